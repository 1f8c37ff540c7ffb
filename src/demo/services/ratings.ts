import * as http from 'node:http';
import { idFromPath, RATINGS } from './catalog';
import { sendJson } from './http-util';
import { notFound, type ServiceContext } from './service';

/** ratings: stars per reviewer, `GET /ratings/<id>`. */
export function handleRatings(ctx: ServiceContext, _req: http.IncomingMessage, res: http.ServerResponse, path: string): void {
  const id = idFromPath(path, '/ratings/');
  if (id === undefined) {
    notFound(ctx, res, path, '/ratings/0');
    return;
  }
  sendJson(res, 200, { service: 'ratings', version: ctx.options.version, instance: ctx.instance, id, ratings: RATINGS }, ctx.identity);
}
