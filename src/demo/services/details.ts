import * as http from 'node:http';
import { DETAILS, idFromPath } from './catalog';
import { sendJson } from './http-util';
import { notFound, type ServiceContext } from './service';

/** details: the book's details, `GET /details/<id>`. */
export function handleDetails(ctx: ServiceContext, _req: http.IncomingMessage, res: http.ServerResponse, path: string): void {
  const id = idFromPath(path, '/details/');
  if (id === undefined) {
    notFound(ctx, res, path, '/details/0');
    return;
  }
  sendJson(res, 200, { service: 'details', version: ctx.options.version, instance: ctx.instance, id, ...DETAILS }, ctx.identity);
}
