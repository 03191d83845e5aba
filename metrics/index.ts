export { FerryMetrics, type DeploymentGauges, type MetricSnapshot } from './ferry-metrics.js';
