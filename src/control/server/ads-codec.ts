/**
 * The wire side of the ADS service: its gRPC method definitions, DiscoveryRequest decoding into
 * the decoded form, and DiscoveryResponse encoding from already-packed resources.
 */
import type { MethodDefinition, ServiceDefinition } from '@grpc/grpc-js';
import type * as protobuf from 'protobufjs';
import { ConfigIssue } from '../../lib/config-error';
import { decodeBinary, DecodedMessage } from '../../xds/decode';
import { lookupType } from '../../xds/protos';

export const SOTW_REQUEST = 'envoy.service.discovery.v3.DiscoveryRequest';
export const SOTW_RESPONSE = 'envoy.service.discovery.v3.DiscoveryResponse';
export const DELTA_REQUEST = 'envoy.service.discovery.v3.DeltaDiscoveryRequest';
export const DELTA_RESPONSE = 'envoy.service.discovery.v3.DeltaDiscoveryResponse';
export const ADS_SERVICE = 'envoy.service.discovery.v3.AggregatedDiscoveryService';

/** A request as read off the stream: its decoded form, or what made it undecodable. */
export type DecodedRequest =
  | { readonly ok: true; readonly message: DecodedMessage }
  | { readonly ok: false; readonly error: string };

/** One resource packed as google.protobuf.Any, with its content hash (the delta version). */
export interface PackedResource {
  readonly name: string;
  readonly typeUrl: string;
  readonly value: Uint8Array;
  readonly hash: string;
}

export interface SotwResponse {
  readonly versionInfo: string;
  readonly typeUrl: string;
  readonly nonce: string;
  readonly resources: readonly PackedResource[];
  /** The whole message, already encoded (shared by streams sent the same response). */
  readonly encoded?: Buffer;
}

export interface DeltaResponse {
  readonly systemVersionInfo: string;
  readonly typeUrl: string;
  readonly nonce: string;
  readonly resources: readonly PackedResource[];
  readonly removedResources: readonly string[];
  /** The whole message, already encoded (shared by streams sent the same response). */
  readonly encoded?: Buffer;
}

function requireType(name: string): protobuf.Type {
  const t = lookupType(name);
  if (!t) throw new Error(`proto type ${name} is not loaded (src/xds/protos.ts PROTO_FILES)`);
  return t;
}

function decodeRequest(typeName: string, bytes: Buffer): DecodedRequest {
  const issues: ConfigIssue[] = [];
  const message = decodeBinary(typeName, bytes, '', issues);
  if (!message) return { ok: false, error: issues.map((i) => `${i.path || typeName}: ${i.message}`).join('; ') };
  // Validation issues in a request (e.g. a node metadata oddity) do not make it unusable.
  return { ok: true, message };
}

/** Bytes of a protobuf varint. */
function varintLength(n: number): number {
  let len = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    len++;
  }
  return len;
}

function writeVarint(buf: Buffer, at: number, n: number): number {
  while (n >= 0x80) {
    buf[at++] = (n & 0x7f) | 0x80;
    n = Math.floor(n / 128);
  }
  buf[at++] = n;
  return at;
}

/** A length-delimited field (wire type 2) with a string payload: tag, length, UTF-8 bytes. */
function stringField(field: number, value: string): Buffer {
  const bytes = Buffer.byteLength(value);
  const out = Buffer.allocUnsafe(1 + varintLength(bytes) + bytes);
  const at = writeVarint(out, writeVarint(out, 0, (field << 3) | 2), bytes);
  out.write(value, at, 'utf8');
  return out;
}

/**
 * Per packed resource, the bytes before its value in a DiscoveryResponse: `resources` (field 2)
 * tag and length, then the Any's type_url field and its `value` (field 2) tag and length. The value
 * itself is not copied here: every proxy's response references the one packed value.
 */
const sotwResourceHeads = new WeakMap<PackedResource, Buffer>();

function sotwResourceHead(p: PackedResource): Buffer {
  let head = sotwResourceHeads.get(p);
  if (head !== undefined) return head;
  const typeUrl = stringField(1, p.typeUrl);
  const valueTag = 1 + varintLength(p.value.length);
  const anyLength = typeUrl.length + valueTag + p.value.length;
  head = Buffer.allocUnsafe(1 + varintLength(anyLength) + typeUrl.length + valueTag);
  let at = writeVarint(head, writeVarint(head, 0, (2 << 3) | 2), anyLength);
  at += typeUrl.copy(head, at);
  writeVarint(head, writeVarint(head, at, (2 << 3) | 2), p.value.length);
  sotwResourceHeads.set(p, head);
  return head;
}

/**
 * A DiscoveryResponse, written directly (fields 1 version_info, 2 resources, 4 type_url, 5 nonce,
 * the order protobufjs writes them): one copy of each resource's packed bytes per response, where
 * a protobufjs encode copies them twice. With 1,000 proxies receiving the same large route table
 * this is most of a push's CPU.
 */
export function encodeSotw(r: SotwResponse): Buffer {
  if (r.encoded !== undefined) return r.encoded;
  const parts: Uint8Array[] = [];
  let total = 0;
  const add = (b: Uint8Array): void => {
    parts.push(b);
    total += b.length;
  };
  // Empty strings are written too, as protobufjs does (proto3 readers treat both forms alike).
  add(stringField(1, r.versionInfo));
  for (const p of r.resources) {
    add(sotwResourceHead(p));
    add(p.value);
  }
  add(stringField(4, r.typeUrl));
  add(stringField(5, r.nonce));
  return Buffer.concat(parts, total);
}

export function encodeDelta(r: DeltaResponse): Buffer {
  if (r.encoded !== undefined) return r.encoded;
  const type = requireType(DELTA_RESPONSE);
  const resources = r.resources.map((p) => ({
    name: p.name,
    version: p.hash,
    resource: { type_url: p.typeUrl, value: p.value },
  }));
  const w = type.encode({
    system_version_info: r.systemVersionInfo,
    resources,
    type_url: r.typeUrl,
    removed_resources: [...r.removedResources],
    nonce: r.nonce,
  });
  return Buffer.from(w.finish());
}

type Method<Req, Res> = MethodDefinition<Req, Res>;

export interface AdsServiceDefinition extends ServiceDefinition {
  StreamAggregatedResources: Method<DecodedRequest, SotwResponse>;
  DeltaAggregatedResources: Method<DecodedRequest, DeltaResponse>;
}

/** The ADS service with Weft's (de)serialisers, for grpc.Server#addService. */
export function adsServiceDefinition(): AdsServiceDefinition {
  // Resolve the types now so a missing proto fails at start, not on the first request.
  for (const n of [SOTW_REQUEST, SOTW_RESPONSE, DELTA_REQUEST, DELTA_RESPONSE]) requireType(n);
  return {
    StreamAggregatedResources: {
      path: `/${ADS_SERVICE}/StreamAggregatedResources`,
      requestStream: true,
      responseStream: true,
      requestSerialize: () => {
        throw new Error('the ADS server does not send requests');
      },
      requestDeserialize: (b: Buffer) => decodeRequest(SOTW_REQUEST, b),
      responseSerialize: encodeSotw,
      responseDeserialize: () => {
        throw new Error('the ADS server does not read responses');
      },
    },
    DeltaAggregatedResources: {
      path: `/${ADS_SERVICE}/DeltaAggregatedResources`,
      requestStream: true,
      responseStream: true,
      requestSerialize: () => {
        throw new Error('the ADS server does not send requests');
      },
      requestDeserialize: (b: Buffer) => decodeRequest(DELTA_REQUEST, b),
      responseSerialize: encodeDelta,
      responseDeserialize: () => {
        throw new Error('the ADS server does not read responses');
      },
    },
  };
}
