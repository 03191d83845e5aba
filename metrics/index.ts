export { FerryMetrics, type DeploymentGauges } from './ferry-metrics.js';
