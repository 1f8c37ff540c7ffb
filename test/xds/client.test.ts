import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { AdsClient, type ResourceUpdate, type UpdateOutcome, type XdsNode } from '../../src/xds/client/ads-client';
import { Backoff } from '../../src/xds/client/backoff';
import { CLUSTER_TYPE, ENDPOINT_TYPE } from '../../src/xds/type-urls';
import { edsCluster, loadAssignment, ScriptedAdsServer } from '../helpers/ads-server';

/**
 * The ADS client's protocol rules against a scripted control plane (a real gRPC server, see
 * test/helpers/ads-server.ts): version/nonce/ACK/NACK, node, delta, reconnects.
 */

const NODE: XdsNode = {
  id: 'sidecar~10.0.0.1~p.ns~ns.svc.cluster.local',
  cluster: 'reviews',
  metadata: { ISTIO_VERSION: '1.22.0', LABELS: { app: 'reviews' } },
  locality: { region: 'r', zone: 'z', sub_zone: '' },
  userAgentName: 'weft',
  userAgentVersion: { major: 0, minor: 1, patch: 0 },
};

/** A watcher that records updates and rejects resources whose name starts with "bad". */
class Recorder {
  readonly updates: ResourceUpdate[] = [];
  onUpdate(u: ResourceUpdate): UpdateOutcome {
    this.updates.push(u);
    const rejected = u.resources.filter((r) => r.name.startsWith('bad')).map((r) => r.name);
    const issues = rejected.map((n) => ({ path: `Cluster(${n}).connect_timeout`, message: 'must be positive' }));
    for (const b of u.undecodable) issues.push(...b.issues.map((i) => ({ path: `Cluster(${b.name}).${i.path}`, message: i.message })));
    return { issues, rejected };
  }
}

function client(ads: ScriptedAdsServer, opts: { delta?: boolean; nodeOnce?: boolean } = {}): { c: AdsClient; connected: () => boolean } {
  let connected = false;
  const c = new AdsClient({
    target: `dns:127.0.0.1:${ads.port}`,
    delta: opts.delta ?? false,
    node: NODE,
    setNodeOnFirstMessageOnly: opts.nodeOnce ?? false,
    backoffBaseMs: 20,
    backoffMaxMs: 100,
    stats: { setConnected: (x) => (connected = x) },
    log: () => undefined,
  });
  return { c, connected: () => connected };
}

describe('ADS client, state of the world (scripted control plane)', () => {
  it('sends the node, then ACKs with version and nonce, and NACKs with the last good version and error_detail', async () => {
    const ads = await ScriptedAdsServer.start();
    const { c } = client(ads);
    const w = new Recorder();
    try {
      c.watch(CLUSTER_TYPE, w, true);
      c.start();
      const first = await ads.waitForRequest((r) => r.req.type_url === CLUSTER_TYPE);
      const node = first.req.node as Record<string, unknown>;
      assert.equal(node.id, NODE.id);
      assert.equal(node.cluster, 'reviews');
      assert.equal(node.user_agent_name, 'weft');
      assert.deepEqual(node.metadata, NODE.metadata);
      assert.deepEqual(node.locality, { region: 'r', zone: 'z' });
      assert.equal(first.req.version_info, undefined);
      assert.equal(first.req.response_nonce, undefined);
      assert.equal(first.req.resource_names, undefined, 'CDS is a wildcard subscription');

      const n1 = ads.push(CLUSTER_TYPE, [edsCluster('a')], 'v1');
      const ack = await ads.waitForAnswer(n1);
      assert.equal(ack.req.version_info, 'v1');
      assert.equal(ack.req.error_detail, undefined);
      assert.ok(ack.req.node, 'node is on every request unless set_node_on_first_message_only');
      assert.equal(w.updates[0].fullState, true);
      assert.deepEqual(w.updates[0].resources.map((r) => r.name), ['a']);

      const n2 = ads.push(CLUSTER_TYPE, [edsCluster('a'), edsCluster('bad1')], 'v2');
      const nack = await ads.waitForAnswer(n2);
      assert.equal(nack.req.version_info, 'v1', 'a NACK carries the last accepted version');
      const detail = nack.req.error_detail as { code: number; message: string };
      assert.equal(detail.code, 3);
      assert.match(detail.message, /Cluster\(bad1\)\.connect_timeout: must be positive/);

      const n3 = ads.push(CLUSTER_TYPE, [edsCluster('a')], 'v3');
      assert.equal((await ads.waitForAnswer(n3)).req.version_info, 'v3');
    } finally {
      c.close();
      await ads.stop();
    }
  });

  it('NACKs a response whose resource does not decode, naming the field path', async () => {
    const ads = await ScriptedAdsServer.start();
    const { c } = client(ads);
    const w = new Recorder();
    try {
      c.watch(CLUSTER_TYPE, w, true);
      c.start();
      await ads.waitForRequest((r) => r.req.type_url === CLUSTER_TYPE);
      // A resource of another type in a CDS response.
      const n = ads.push(CLUSTER_TYPE, [{ ...loadAssignment('x', [1]), '@type': ENDPOINT_TYPE } as never], 'v1');
      const nack = await ads.waitForAnswer(n);
      assert.match((nack.req.error_detail as { message: string }).message, /ClusterLoadAssignment in a .*Cluster response/);
      assert.equal(nack.req.version_info, undefined);
    } finally {
      c.close();
      await ads.stop();
    }
  });

  it('subscribes EDS by name, resends the whole name list on change, and sets the node once when asked', async () => {
    const ads = await ScriptedAdsServer.start();
    const { c } = client(ads, { nodeOnce: true });
    const w = new Recorder();
    try {
      c.watch(ENDPOINT_TYPE, w, false);
      c.start();
      c.setResourceNames(ENDPOINT_TYPE, ['b', 'a']);
      const r1 = await ads.waitForRequest((r) => r.req.type_url === ENDPOINT_TYPE);
      assert.deepEqual(r1.req.resource_names, ['a', 'b']);
      assert.ok(r1.req.node);
      const n = ads.push(ENDPOINT_TYPE, [loadAssignment('a', [1])], '7');
      const ack = await ads.waitForAnswer(n);
      assert.equal(ack.req.node, undefined, 'set_node_on_first_message_only');
      assert.equal(w.updates[0].fullState, false, 'EDS SotW responses are not the full set');
      const from = ads.requests.length;
      c.setResourceNames(ENDPOINT_TYPE, ['a']);
      const r2 = await ads.waitForRequest((r) => r.req.type_url === ENDPOINT_TYPE, { from });
      assert.deepEqual(r2.req.resource_names, ['a']);
      assert.equal(r2.req.version_info, '7');
      assert.equal(r2.req.response_nonce, n);
    } finally {
      c.close();
      await ads.stop();
    }
  });

  it('reconnects with back-off after the control plane goes away and resubscribes with the last accepted version', async () => {
    const ads = await ScriptedAdsServer.start();
    const { c, connected } = client(ads);
    const w = new Recorder();
    let ads2: ScriptedAdsServer | undefined;
    try {
      c.watch(CLUSTER_TYPE, w, true);
      c.start();
      await ads.waitForRequest((r) => r.req.type_url === CLUSTER_TYPE);
      await ads.waitForAnswer(ads.push(CLUSTER_TYPE, [edsCluster('a')], 'v1'));
      assert.equal(connected(), true);
      const port = ads.port;
      await ads.stop();
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(connected(), false);
      ads2 = await ScriptedAdsServer.start({ port });
      const again = await ads2.waitForRequest((r) => r.req.type_url === CLUSTER_TYPE);
      assert.equal(again.req.version_info, 'v1');
      assert.equal(again.req.response_nonce, undefined);
      assert.ok(again.req.node);
    } finally {
      c.close();
      await ads.stop();
      await ads2?.stop();
    }
  });
});

describe('ADS client, bad responses (scripted control plane)', () => {
  it('drops and reconnects the stream on an undecodable response, keeping its accepted version', async () => {
    const ads = await ScriptedAdsServer.start();
    const { c } = client(ads);
    const w = new Recorder();
    try {
      c.watch(CLUSTER_TYPE, w, true);
      c.start();
      await ads.waitForRequest((r) => r.req.type_url === CLUSTER_TYPE);
      await ads.waitForAnswer(ads.push(CLUSTER_TYPE, [edsCluster('a')], 'v1'));
      const stream = ads.requests[ads.requests.length - 1].stream;
      ads.pushRaw(Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]));
      const again = await ads.waitForRequest((r) => r.stream !== stream && r.req.type_url === CLUSTER_TYPE);
      assert.equal(again.req.version_info, 'v1');
      assert.equal(w.updates.length, 1, 'nothing was applied from the bad response');
    } finally {
      c.close();
      await ads.stop();
    }
  });
});

describe('ADS client, delta (scripted control plane)', () => {
  it('subscribes by diff, ACKs with the nonce alone, NACKs with error_detail, and sends initial_resource_versions on reconnect', async () => {
    const ads = await ScriptedAdsServer.start();
    const { c } = client(ads, { delta: true });
    const w = new Recorder();
    const eds = new Recorder();
    let ads2: ScriptedAdsServer | undefined;
    try {
      c.watch(CLUSTER_TYPE, w, true);
      c.watch(ENDPOINT_TYPE, eds, false);
      c.start();
      const first = await ads.waitForRequest((r) => r.delta && r.req.type_url === CLUSTER_TYPE);
      assert.ok(first.req.node);
      assert.equal(first.req.resource_names_subscribe, undefined, 'wildcard');
      const n1 = ads.pushDelta(CLUSTER_TYPE, [{ name: 'a', version: '1', resource: edsCluster('a') }, { name: 'b', version: '1', resource: edsCluster('b') }]);
      const ack = await ads.waitForAnswer(n1);
      assert.equal(ack.req.error_detail, undefined);
      assert.equal(ack.req.version_info, undefined);
      const n2 = ads.pushDelta(CLUSTER_TYPE, [{ name: 'bad', version: '1', resource: edsCluster('bad') }], ['b']);
      const nack = await ads.waitForAnswer(n2);
      assert.match((nack.req.error_detail as { message: string }).message, /Cluster\(bad\)/);
      assert.deepEqual(w.updates[1].removed, ['b']);

      c.setResourceNames(ENDPOINT_TYPE, ['a', 'c']);
      const sub = await ads.waitForRequest((r) => r.req.type_url === ENDPOINT_TYPE);
      assert.deepEqual(sub.req.resource_names_subscribe, ['a', 'c']);
      await ads.waitForAnswer(ads.pushDelta(ENDPOINT_TYPE, [{ name: 'a', version: 'e1', resource: loadAssignment('a', [1]) }]));
      const from = ads.requests.length;
      c.setResourceNames(ENDPOINT_TYPE, ['a']);
      const unsub = await ads.waitForRequest((r) => r.req.type_url === ENDPOINT_TYPE, { from });
      assert.deepEqual(unsub.req.resource_names_unsubscribe, ['c']);
      assert.equal(unsub.req.resource_names_subscribe, undefined);

      const port = ads.port;
      await ads.stop();
      ads2 = await ScriptedAdsServer.start({ port });
      const cds = await ads2.waitForRequest((r) => r.req.type_url === CLUSTER_TYPE);
      assert.deepEqual(cds.req.initial_resource_versions, { a: '1' }, 'b was removed, bad was rejected');
      const e = await ads2.waitForRequest((r) => r.req.type_url === ENDPOINT_TYPE);
      assert.deepEqual(e.req.resource_names_subscribe, ['a']);
      assert.deepEqual(e.req.initial_resource_versions, { a: 'e1' });
    } finally {
      c.close();
      await ads.stop();
      await ads2?.stop();
    }
  });
});

describe('Backoff', () => {
  it('grows exponentially up to the cap, with jitter, and resets', () => {
    const top = new Backoff(100, 1000, () => 0.999);
    const seq = [top.next(), top.next(), top.next(), top.next(), top.next()];
    assert.deepEqual(seq, [99, 199, 399, 799, 999]);
    top.reset();
    assert.equal(top.next(), 99);
    const low = new Backoff(100, 1000, () => 0);
    assert.equal(low.next(), 10, 'never below the floor');
  });
});
