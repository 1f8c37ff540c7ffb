/** The admin server's view of the clusters: Envoy's `/clusters` text and `?format=json`. */
export { clustersAdminText as clustersText, clustersAdminJson as clustersJson } from './admin';
export type { ClusterSource, ClustersJson } from './admin';
