import type { ProxyNode } from '../contracts';
import { DecodedMessage, isDecodedMessage } from '../../xds/decode';

function str(v: unknown): string {
  return typeof v === 'string' ? v : '';
}

/** The ProxyNode of an xDS Node message (decoded form); an error message if it cannot identify a proxy. */
export function proxyNodeOf(node: DecodedMessage | undefined): ProxyNode | string {
  if (!node) return 'the first request on a stream must carry node (node.id identifies the proxy)';
  const id = str(node.id);
  if (!id) return 'node.id is empty: every proxy needs an id (Istio form: sidecar~IP~pod.namespace~namespace.svc.cluster.local)';
  const metadata = isDecodedMessage(node.metadata) ? node.metadata : {};
  const loc = isDecodedMessage(node.locality) ? node.locality : undefined;
  const locality = loc
    ? {
        ...(str(loc.region) ? { region: str(loc.region) } : {}),
        ...(str(loc.zone) ? { zone: str(loc.zone) } : {}),
        ...(str(loc.sub_zone) ? { sub_zone: str(loc.sub_zone) } : {}),
      }
    : undefined;
  return { id, cluster: str(node.cluster), metadata, ...(locality ? { locality } : {}), userAgent: str(node.user_agent_name) };
}
