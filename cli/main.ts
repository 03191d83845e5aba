#!/usr/bin/env node
import { VERSION } from '../version.js';
import { serveCommand, SERVE_HELP } from './serve-command.js';
import { simulateCommand, SIMULATE_HELP } from './simulate-command.js';
import { statusCommand, STATUS_HELP } from './status-command.js';

const HELP = `Usage: ferry <command> [options]

Ferry serves ONNX models over HTTP from a TypeScript config, with replica
actors that batch the calls arriving together.

Commands:
  serve [config]     serve the deployments in a config (see ferry serve --help)
  status             show a running Ferry's deployments, replicas and decisions
  simulate           replay a request-rate trace through the autoscaling policy

Options:
  -h, --help         show this help
  -v, --version      print Ferry's version

${SERVE_HELP}
${STATUS_HELP}
${SIMULATE_HELP}`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case undefined:
    case '-h':
    case '--help':
    case 'help':
      process.stdout.write(HELP);
      return command === undefined ? 1 : 0;
    case '-v':
    case '--version':
      process.stdout.write(`${VERSION}\n`);
      return 0;
    case 'serve':
      return serveCommand(rest);
    case 'status':
      return statusCommand(rest);
    case 'simulate':
      return simulateCommand(rest);
    default:
      process.stderr.write(`ferry: unknown command '${command}'\n\n${HELP}`);
      return 1;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: Error & { code?: unknown }) => {
    // Ferry's own errors carry their registry code, as README and docs/api.md promise.
    const code = typeof err.code === 'string' && err.code.startsWith('FERRY_ERR_') ? `${err.code}: ` : '';
    process.stderr.write(`ferry: ${code}${err.message}\n`);
    process.exit(1);
  },
);
