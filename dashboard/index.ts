export { registerDashboardRoutes } from './dashboard-routes.js';
export { histogramQuantile, type Bucket } from './histogram-quantile.js';
export { StatusPage, type DeploymentPanel, type NodePanel, type StatusLike, type StatusPageData } from './status-page-data.js';
export { SERIES, TrafficHistory, type DeploymentNow, type DeploymentSeries, type SeriesName } from './traffic-history.js';
