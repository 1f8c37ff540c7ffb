/**
 * Weft's decoded form of an Envoy v3 message: plain objects keyed by proto field names
 * (snake_case), holding only the fields that were present. See decode.ts for the mapping.
 */
export type DecodedValue =
  | null
  | string
  | number
  | boolean
  | Buffer
  | DecodedValue[]
  | DecodedMessage;

export type DecodedMessage = { [field: string]: DecodedValue };

export function isDecodedMessage(v: unknown): v is DecodedMessage {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !Buffer.isBuffer(v);
}

/** Well-known types whose decoded form is not an object of their fields. */
export const WRAPPER_TYPES: ReadonlySet<string> = new Set([
  'google.protobuf.DoubleValue',
  'google.protobuf.FloatValue',
  'google.protobuf.Int64Value',
  'google.protobuf.UInt64Value',
  'google.protobuf.Int32Value',
  'google.protobuf.UInt32Value',
  'google.protobuf.BoolValue',
  'google.protobuf.StringValue',
  'google.protobuf.BytesValue',
]);

export const TYPED_STRUCT_TYPES: ReadonlySet<string> = new Set([
  'udpa.type.v1.TypedStruct',
  'xds.type.v3.TypedStruct',
]);

/** Well-known types that sit under "value" inside an Any (their JSON form is not an object of fields). */
export function isValueInAny(fullName: string): boolean {
  return fullName.startsWith('google.protobuf.') && fullName !== 'google.protobuf.Empty';
}
