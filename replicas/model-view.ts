import { DeploymentModel } from './deployment-model.js';
import type { OmittedOutput } from './protocol.js';
import type { ModelMetadata } from './tensor.js';
import type { ResolvedDeployment } from '../deployments/index.js';

/**
 * What a serving pool tells of its deployment's model, whether its replicas
 * run here or on a cluster's nodes: learnt from the first replica to load it
 * (or a node's report of it), unknown before.
 */
export abstract class ModelView {
  protected readonly model: DeploymentModel;

  constructor(config: ResolvedDeployment) {
    this.model = new DeploymentModel(config.name, config.batching);
  }

  /** The model's inputs and outputs; throws before a replica has loaded it. */
  get metadata(): ModelMetadata {
    return this.model.metadata;
  }

  /** The model's inputs and outputs, or null before the first replica has loaded it. */
  get knownMetadata(): ModelMetadata | null {
    return this.model.known ? this.model.metadata : null;
  }

  /** The model's outputs that are not tensors (sequences, maps), left out of the metadata and every answer, and why. */
  get omittedOutputs(): readonly OmittedOutput[] {
    return this.model.omittedOutputs;
  }

  /** True when calls are concatenated along dimension 0; false when each runs alone with its own shapes. */
  get batching(): boolean {
    return this.model.batching;
  }

  /** Whether the deployment batches, and why (not): the model's shapes, or the config. */
  batchingStatus(): { enabled: boolean; reason: string } {
    return this.model.batchingStatus();
  }

  /** False for a code deployment whose handler defines neither infer nor inferBatch. */
  get servesInference(): boolean {
    return this.model.servesInference;
  }
}
