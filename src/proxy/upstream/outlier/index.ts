/** Outlier detection: the public surface. */
export { OutlierDetector, OUTLIER_COUNTERS } from './detector';
export type { OutlierDetectorDeps, OutlierStats, SuccessRateNums } from './detector';
export { OutlierResult, EjectionType, HostOutlierMonitor } from './host-monitor';
export { parseOutlierDetection } from './config';
export type { OutlierConfig } from './config';
export type { OutlierDetectionEventJson } from './events';
