import * as http from 'node:http';
import { PRODUCT } from './catalog';
import { callUpstream, propagatedHeaders, sendJson, sendText, type CallResult } from './http-util';
import { notFound, type ServiceContext } from './service';

/**
 * front (bookinfo's productpage): `GET /` renders a page, `GET /api/summary` the same as JSON,
 * with `reviews_version` saying which reviews version answered. It calls details and reviews in
 * parallel; when one fails the page is still served (200) with that part replaced by the reason,
 * listed in `errors` and in the `x-demo-degraded` header.
 */

export interface Summary {
  service: 'front';
  version: string;
  instance: string;
  request_id: string | null;
  product: typeof PRODUCT;
  details: unknown;
  reviews: unknown;
  /** `v1`, `v2`, `v3`, or null when reviews did not answer. */
  reviews_version: string | null;
  errors: string[];
}

function summarise(ctx: ServiceContext, req: http.IncomingMessage, details: CallResult, reviews: CallResult): Summary {
  const errors: string[] = [];
  if (!details.ok) errors.push(details.message);
  if (!reviews.ok) errors.push(reviews.message);
  const reviewsBody = reviews.ok ? (reviews.body as { version?: unknown; errors?: unknown }) : null;
  if (reviewsBody && Array.isArray(reviewsBody.errors)) for (const e of reviewsBody.errors) errors.push(`reviews reported: ${String(e)}`);
  const requestId = req.headers['x-request-id'];
  return {
    service: 'front',
    version: ctx.options.version,
    instance: ctx.instance,
    request_id: typeof requestId === 'string' ? requestId : null,
    product: PRODUCT,
    details: details.ok ? details.body : null,
    reviews: reviewsBody,
    reviews_version: reviewsBody && typeof reviewsBody.version === 'string' ? reviewsBody.version : null,
    errors,
  };
}

const escapeHtml = (s: string): string =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);

function renderReviews(summary: Summary): string {
  if (!summary.reviews) return '<p class="error">Sorry, product reviews are currently unavailable.</p>';
  const reviews = (summary.reviews as { reviews?: { reviewer: string; text: string; rating?: { stars?: number; color?: string; error?: string } }[] }).reviews ?? [];
  return reviews
    .map((r) => {
      const rating = r.rating;
      const stars =
        rating === undefined
          ? ''
          : rating.error !== undefined
            ? `<p class="error">${escapeHtml(rating.error)}</p>`
            : `<p style="color:${escapeHtml(rating.color ?? 'black')}">${'★'.repeat(rating.stars ?? 0)}${'☆'.repeat(5 - (rating.stars ?? 0))}</p>`;
      return `<blockquote><p>${escapeHtml(r.text)}</p><small>${escapeHtml(r.reviewer)}</small>${stars}</blockquote>`;
    })
    .join('\n');
}

function renderPage(summary: Summary): string {
  const details = summary.details
    ? `<dl>${Object.entries(summary.details as Record<string, unknown>)
        .filter(([k]) => !['service', 'version', 'instance', 'id'].includes(k))
        .map(([k, v]) => `<dt>${escapeHtml(k)}</dt><dd>${escapeHtml(String(v))}</dd>`)
        .join('')}</dl>`
    : '<p class="error">Sorry, product details are currently unavailable.</p>';
  const errors = summary.errors.length ? `<h3>Errors</h3><ul>${summary.errors.map((e) => `<li>${escapeHtml(e)}</li>`).join('')}</ul>` : '';
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>Weft demo: ${escapeHtml(summary.product.title)}</title>
<style>body{font-family:sans-serif;max-width:48em;margin:2em auto}.error{color:#b00}</style></head>
<body>
<h1>${escapeHtml(summary.product.title)}</h1>
<p>${escapeHtml(summary.product.description)}</p>
<h2>Details</h2>${details}
<h2>Reviews <small>(served by reviews ${escapeHtml(summary.reviews_version ?? 'unavailable')})</small></h2>
${renderReviews(summary)}
${errors}
<p><small>front ${escapeHtml(summary.version)} · request ${escapeHtml(summary.request_id ?? '-')}</small></p>
</body></html>
`;
}

export function handleFront(ctx: ServiceContext, req: http.IncomingMessage, res: http.ServerResponse, path: string): void {
  if (path !== '/' && path !== '/api/summary') {
    notFound(ctx, res, path, '/ or /api/summary');
    return;
  }
  const headers = propagatedHeaders(req);
  const id = PRODUCT.id;
  void Promise.all([
    callUpstream(ctx.agent, ctx.upstream('details'), `/details/${id}`, headers, ctx.stats),
    callUpstream(ctx.agent, ctx.upstream('reviews'), `/reviews/${id}`, headers, ctx.stats),
  ]).then(([details, reviews]) => {
    const summary = summarise(ctx, req, details, reviews);
    const degraded = [details.ok ? '' : 'details', reviews.ok ? '' : 'reviews'].filter(Boolean).join(',');
    const extra = degraded ? { ...ctx.identity, 'x-demo-degraded': degraded } : ctx.identity;
    if (path === '/api/summary') sendJson(res, 200, summary, extra);
    else sendText(res, 200, 'text/html; charset=utf-8', renderPage(summary), extra);
  });
}
