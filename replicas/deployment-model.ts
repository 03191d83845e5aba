import type { ResolvedBatching } from '../deployments/index.js';
import { batchingPlanOf, type BatchingPlan } from './batching-plan.js';
import type { LoadedModel, OmittedOutput } from './protocol.js';
import type { ModelMetadata } from './tensor.js';

/**
 * What a pool knows of its model once the first replica has loaded it: the
 * metadata, the outputs left out, and whether calls batch (the model's shapes
 * and the config decide). Until then it knows nothing, and no call is made.
 */
export class DeploymentModel {
  private loaded: LoadedModel | null = null;
  private plan: BatchingPlan | null = null;
  private batches = false;

  constructor(
    private readonly deployment: string,
    private readonly config: ResolvedBatching,
  ) {}

  /** What the first replica reported (the model's interface and a handler's kind), or null before. */
  get reported(): LoadedModel | null {
    return this.loaded;
  }

  /** True once a replica has reported the model. */
  get known(): boolean {
    return this.loaded !== null;
  }

  /** The model's inputs and outputs; throws before the first replica is ready. */
  get metadata(): ModelMetadata {
    if (!this.loaded) throw new Error(`deployment ${this.deployment} has not started`);
    return this.loaded.metadata;
  }

  /** Outputs that are not tensors (sequences, maps), left out of the metadata and every answer, and why. */
  get omittedOutputs(): readonly OmittedOutput[] {
    return this.loaded?.omittedOutputs ?? [];
  }

  /** True when calls are concatenated along dimension 0. */
  get batching(): boolean {
    return this.batches;
  }

  /** Why batching is required by the config but impossible for the model, or null. */
  get batchingConflict(): string | null {
    return this.config.mode === 'on' && this.plan && !this.plan.batchable ? this.plan.reason : null;
  }

  /** False for a code deployment whose handler defines neither infer nor inferBatch. */
  get servesInference(): boolean {
    return this.loaded?.handler?.infer ?? true;
  }

  /** Learns the model from the first replica that loads it; later reports are the same model. */
  learn(model: LoadedModel): void {
    if (this.loaded) return;
    this.loaded = model;
    if (model.handler) {
      // A handler's calls are never concatenated: inferBatch receives them one by one, infer each alone.
      const batched = model.handler.batched;
      this.plan = {
        batchable: batched,
        reason: batched
          ? 'the handler defines inferBatch: it receives the calls gathered for each batch (maxBatchSize counts calls)'
          : 'the handler defines no inferBatch: each call runs alone, concurrently with the others',
      };
      this.batches = false;
      return;
    }
    this.plan = batchingPlanOf(model.metadata);
    // Each replica's mailbox decides the same from the same model (see replica-main).
    this.batches = this.plan.batchable && this.config.mode !== 'off';
  }

  /** Whether calls batch, and why (not): the model's shapes (or the handler), or the config. */
  batchingStatus(): { enabled: boolean; reason: string } {
    if (this.config.mode === 'off') return { enabled: false, reason: 'turned off by the config (batching: false)' };
    if (!this.plan) return { enabled: false, reason: 'the model has not been loaded yet' };
    if (this.loaded?.handler) return { enabled: this.plan.batchable, reason: this.plan.reason };
    return { enabled: this.batches, reason: this.plan.reason };
  }
}
