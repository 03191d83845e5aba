#!/usr/bin/env node
import { ReplicaStartFailedError } from '../replicas/pool-errors.js';
import { VERSION } from '../version.js';

/*
 * The commands are imported when they run, not up front: their modules read
 * FERRY_* variables as they load, and a bad value must reach the one-line
 * error report below rather than end the process with a stack trace.
 */
const serveModule = () => import('./serve-command.js');
const statusModule = () => import('./status-command.js');
const simulateModule = () => import('./simulate-command.js');
const nodeModule = () => import('./node-command.js');

async function help(): Promise<string> {
  const [{ SERVE_HELP }, { STATUS_HELP }, { SIMULATE_HELP }, { NODE_HELP }] = await Promise.all([serveModule(), statusModule(), simulateModule(), nodeModule()]);
  return `Usage: ferry <command> [options]

Ferry serves ONNX models over HTTP from a TypeScript config, with replica
actors that batch the calls arriving together.

Commands:
  serve [config]     serve the deployments in a config (see ferry serve --help)
  node               offer this machine to a cluster and run the replicas placed here
  status             show a running Ferry's deployments, replicas and decisions
  simulate           replay a request-rate trace through the autoscaling policy

Options:
  -h, --help         show this help
  -v, --version      print Ferry's version

${SERVE_HELP}
${NODE_HELP}
${STATUS_HELP}
${SIMULATE_HELP}`;
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case undefined:
    case '-h':
    case '--help':
    case 'help':
      process.stdout.write(await help());
      return command === undefined ? 1 : 0;
    case '-v':
    case '--version':
      process.stdout.write(`${VERSION}\n`);
      return 0;
    case 'serve':
      return (await serveModule()).serveCommand(rest);
    case 'status':
      return (await statusModule()).statusCommand(rest);
    case 'node':
      return (await nodeModule()).nodeCommand(rest);
    case 'simulate':
      return (await simulateModule()).simulateCommand(rest);
    default:
      process.stderr.write(`ferry: unknown command '${command}'\n\n${await help()}`);
      return 1;
  }
}

/**
 * The code a failure is reported with, as docs/api.md promises:
 * Ferry's registry code, or a system error's own (EADDRINUSE, EACCES);
 * none for the rest (a bad flag).
 */
function codeOf(err: unknown): string | null {
  const e = err as { code?: unknown; syscall?: unknown } | null;
  if (typeof e?.code === 'string' && (e.code.startsWith('FERRY_ERR_') || typeof e.syscall === 'string')) return e.code;
  // The pools throw their own class; only a device problem gives it a code of its own.
  if (err instanceof ReplicaStartFailedError) return 'FERRY_ERR_REPLICA_START';
  return null;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    const code = codeOf(err);
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(`ferry: ${code === null ? '' : `${code}: `}${message}\n`);
    process.exit(1);
  },
);
