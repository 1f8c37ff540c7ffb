import * as http from 'node:http';
import { idFromPath, REVIEWS } from './catalog';
import { callUpstream, propagatedHeaders, sendJson } from './http-util';
import { notFound, type ServiceContext } from './service';

/**
 * reviews: `GET /reviews/<id>`. v1 shows no stars and calls nothing; v2 (black stars) and v3 (red
 * stars) ask ratings. When ratings fails, the reviews still come back, each saying its rating is
 * unavailable, and `errors` says why.
 */

const STAR_COLOR: Readonly<Record<string, string>> = { v2: 'black', v3: 'red' };

interface Review {
  reviewer: string;
  text: string;
  rating?: { stars: number; color: string } | { error: string };
}

export function handleReviews(ctx: ServiceContext, req: http.IncomingMessage, res: http.ServerResponse, path: string): void {
  const id = idFromPath(path, '/reviews/');
  if (id === undefined) {
    notFound(ctx, res, path, '/reviews/0');
    return;
  }
  const version = ctx.options.version;
  const answer = (reviews: Review[], errors: string[]): void =>
    sendJson(res, 200, { service: 'reviews', version, instance: ctx.instance, id, reviews, errors }, ctx.identity);
  const color = STAR_COLOR[version];
  if (color === undefined) {
    answer(REVIEWS.map((r) => ({ ...r })), []);
    return;
  }
  void callUpstream(ctx.agent, ctx.upstream('ratings'), `/ratings/${id}`, propagatedHeaders(req), ctx.stats).then((r) => {
    if (!r.ok) {
      answer(REVIEWS.map((rv) => ({ ...rv, rating: { error: 'Ratings service is currently unavailable' } })), [r.message]);
      return;
    }
    const ratings = (r.body as { ratings?: Record<string, unknown> }).ratings ?? {};
    const reviews = REVIEWS.map((rv): Review => {
      const stars = ratings[rv.reviewer];
      return typeof stars === 'number' ? { ...rv, rating: { stars, color } } : { ...rv, rating: { error: `ratings has no rating for ${rv.reviewer}` } };
    });
    answer(reviews, []);
  });
}
