export { AUTOSCALING_DEFAULTS, resolveAutoscaling, type AutoscalingConfig, type ResolvedAutoscaling } from './autoscaling-config.js';
export { applyDelay, clampReplicas, decide, INITIAL_POLICY_STATE, scaledDesired, type Decision, type PolicyContext, type PolicyState } from './policy.js';
export { AutoscalerController, type ControllerOptions, type DecisionRecord, type Scalable } from './controller.js';
export { simulate, type ServiceModel, type SimStep, type SimSummary } from './simulator.js';
export { renderChart } from './svg-chart.js';
export { parseTrace, rateAt, type TracePoint } from './trace.js';
