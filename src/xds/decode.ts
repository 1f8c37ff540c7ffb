/**
 * Envoy v3 config → Weft's decoded form, from proto3 JSON (YAML) or the wire format.
 *
 * The decoded form: plain objects keyed by proto field names (snake_case), holding only fields
 * present in the input; enums as their names; 64-bit integers as numbers; bytes as Buffer;
 * Duration as milliseconds; Timestamp as an ISO string; wrappers as their primitive; Struct,
 * Value and ListValue as plain JSON; Any (and TypedStruct) as the decoded message of the named
 * type plus '@type' holding its type URL (well-known types inside an Any sit under 'value').
 * protoc-gen-validate rules are checked while decoding; every problem is pushed to `issues`.
 */
import { ConfigIssue } from '../lib/config-error';
import { encodeValue, decodeBinaryValue, resolveType } from './binary';
import { DecodedMessage, isDecodedMessage } from './decoded';
import { decodeJsonValue } from './json';
import { typeNameOfUrl } from './protos';

export { DecodedMessage, DecodedValue, isDecodedMessage } from './decoded';

function messageOrIssue(v: unknown, fullTypeName: string, path: string, issues: ConfigIssue[]): DecodedMessage | undefined {
  if (v === undefined || isDecodedMessage(v)) return v;
  issues.push({ path, message: `${fullTypeName} does not decode to a message object` });
  return undefined;
}

/** Decodes proto3 JSON (already parsed, e.g. from YAML) of a message type. */
export function decodeJson(
  fullTypeName: string,
  input: unknown,
  path: string,
  issues: ConfigIssue[],
): DecodedMessage | undefined {
  const type = resolveType(fullTypeName);
  if (!type) {
    issues.push({ path, message: `unknown message type "${fullTypeName}"` });
    return undefined;
  }
  return messageOrIssue(decodeJsonValue(type, input, path, issues), fullTypeName, path, issues);
}

/** Decodes wire-format bytes of a message type, named by full name or type URL. */
export function decodeBinary(
  typeUrlOrName: string,
  bytes: Uint8Array,
  path: string,
  issues: ConfigIssue[],
): DecodedMessage | undefined {
  const type = resolveType(typeUrlOrName);
  if (!type) {
    issues.push({ path, message: `unknown type URL "${typeUrlOrName}"` });
    return undefined;
  }
  return messageOrIssue(decodeBinaryValue(type, bytes, path, issues), typeUrlOrName, path, issues);
}

/** Encodes a decoded message to wire format. Throws if the decoded form does not fit the type. */
export function encodeBinary(fullTypeName: string, decoded: DecodedMessage): Uint8Array {
  const type = resolveType(fullTypeName);
  if (!type) throw new Error(`unknown message type "${fullTypeName}"`);
  return encodeValue(type, decoded);
}

/** google.protobuf.Any in the shape protobufjs / grpc-js put on the wire. */
export interface PackedAny {
  type_url: string;
  value: Uint8Array;
}

export function packAny(typeUrl: string, decoded: DecodedMessage): PackedAny {
  return { type_url: typeUrl, value: encodeBinary(typeNameOfUrl(typeUrl), decoded) };
}
