import type { ConfigIssue } from '../../lib/config-error';
import type { RouteTable } from './types';
import { compileRouteConfiguration } from './route-table';

/**
 * Compiles an inline route_config for the HTTP connection manager and, as Envoy does for static
 * route tables (validate_clusters defaults to true there), checks that every cluster it names exists.
 */
export function compileRoutes(
  rc: Record<string, unknown>,
  path: string,
  issues: ConfigIssue[],
  clusterExists?: (name: string) => boolean,
): RouteTable | undefined {
  const table = compileRouteConfiguration(rc, path, issues);
  if (table === undefined || clusterExists === undefined || table.validateClusters === false) return table;
  for (const name of table.referencedClusters) {
    if (!clusterExists(name)) issues.push({ path, message: `route references unknown cluster '${name}'` });
  }
  return table;
}
