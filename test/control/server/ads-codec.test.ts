// The ADS server's hand-written DiscoveryResponse encoding against protobufjs's, byte for byte.
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { encodeSotw, SOTW_RESPONSE, type PackedResource } from '../../../src/control/server/ads-codec';
import { lookupType } from '../../../src/xds/protos';

const CLUSTER = 'type.googleapis.com/envoy.config.cluster.v3.Cluster';

function packed(name: string, size: number): PackedResource {
  const value = new Uint8Array(size);
  for (let i = 0; i < size; i++) value[i] = (i * 31 + name.length) & 0xff;
  return { name, typeUrl: CLUSTER, value, hash: name };
}

function reference(version: string, typeUrl: string, nonce: string, resources: readonly PackedResource[]): Buffer {
  const type = lookupType(SOTW_RESPONSE)!;
  const any = resources.map((r) => ({ type_url: r.typeUrl, value: r.value }));
  return Buffer.from(type.encode({ version_info: version, resources: any, type_url: typeUrl, nonce }).finish());
}

test('SotW DiscoveryResponse encoding: the same bytes as protobufjs, for small, empty and multi-byte-length resources', () => {
  const cases: { version: string; nonce: string; resources: PackedResource[] }[] = [
    { version: 'abc123', nonce: '1', resources: [] },
    { version: '', nonce: '', resources: [packed('a', 0)] },
    { version: 'v', nonce: '42', resources: [packed('small', 5), packed('edge', 127), packed('two-byte', 128), packed('large', 300_000)] },
    { version: 'ünïcode-version', nonce: '9999999', resources: [packed('x', 16_384)] },
  ];
  for (const c of cases) {
    const mine = encodeSotw({ versionInfo: c.version, typeUrl: CLUSTER, nonce: c.nonce, resources: c.resources });
    assert.deepEqual(mine, reference(c.version, CLUSTER, c.nonce, c.resources), `case version=${c.version} resources=${c.resources.length}`);
    // Encoding again (cached resource heads) gives the same bytes.
    assert.deepEqual(encodeSotw({ versionInfo: c.version, typeUrl: CLUSTER, nonce: c.nonce, resources: c.resources }), mine);
  }
  const decoded = lookupType(SOTW_RESPONSE)!.toObject(lookupType(SOTW_RESPONSE)!.decode(encodeSotw({ versionInfo: 'v9', typeUrl: CLUSTER, nonce: '7', resources: [packed('p', 10)] })), { bytes: Array });
  assert.equal(decoded.version_info, 'v9');
  assert.equal(decoded.nonce, '7');
  assert.equal(decoded.resources.length, 1);
  assert.equal(decoded.resources[0].type_url, CLUSTER);
});
