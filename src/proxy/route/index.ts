export { compileRouteConfiguration } from './route-table';
export type { RawMessage, RouteEntry, RouteRequest, RouteTable } from './types';
