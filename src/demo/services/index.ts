import * as http from 'node:http';
import { handleDetails } from './details';
import { handleFront } from './front';
import { handleRatings } from './ratings';
import { handleReviews } from './reviews';
import { createContext, serve, type Handler, type ServiceContext, type ServiceKind, type ServiceOptions } from './service';

/** Starts one sample service in this process. */

export { SERVICE_KINDS, type ServiceKind, type ServiceOptions } from './service';
export { parseUpstream, PROPAGATED_HEADERS, type Upstream } from './http-util';

const HANDLERS: Readonly<Record<ServiceKind, Handler>> = {
  front: handleFront,
  details: handleDetails,
  reviews: handleReviews,
  ratings: handleRatings,
};

export interface RunningService {
  readonly context: ServiceContext;
  readonly server: http.Server;
  readonly port: number;
  close(): Promise<void>;
}

export async function startService(options: ServiceOptions, host: string, port: number): Promise<RunningService> {
  if (options.kind === 'reviews' && !['v1', 'v2', 'v3'].includes(options.version)) {
    throw new Error(`reviews version "${options.version}": the sample has v1 (no stars), v2 (black stars) and v3 (red stars)`);
  }
  const context = createContext(options);
  const server = serve(context, HANDLERS[options.kind]);
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      reject(new Error(`${options.kind} ${options.version} cannot listen on ${host}:${port}: ${e.code ?? e.message}`)),
    );
    server.listen(port, host, () => resolve());
  });
  const bound = (server.address() as { port: number }).port;
  return {
    context,
    server,
    port: bound,
    close: () =>
      new Promise<void>((resolve) => {
        context.agent.destroy();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
