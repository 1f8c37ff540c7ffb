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
}

export interface DeltaResponse {
  readonly systemVersionInfo: string;
  readonly typeUrl: string;
  readonly nonce: string;
  readonly resources: readonly PackedResource[];
  readonly removedResources: readonly string[];
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

function encodeSotw(r: SotwResponse): Buffer {
  const type = requireType(SOTW_RESPONSE);
  const resources = new Array<{ type_url: string; value: Uint8Array }>(r.resources.length);
  for (let i = 0; i < r.resources.length; i++) resources[i] = { type_url: r.resources[i].typeUrl, value: r.resources[i].value };
  const w = type.encode({ version_info: r.versionInfo, resources, type_url: r.typeUrl, nonce: r.nonce });
  return Buffer.from(w.finish());
}

function encodeDelta(r: DeltaResponse): Buffer {
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
