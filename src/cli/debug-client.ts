/** Reads `weft control`'s debug endpoints for proxy-status and proxy-config. */
export const DEFAULT_CONTROL_ADDRESS = '127.0.0.1:15014';

export class DebugFetchError extends Error {}

/** GETs a debug endpoint; an error that says which control plane could not be read and why. */
export async function fetchDebug(controlAddress: string, pathAndQuery: string): Promise<unknown> {
  const url = `http://${controlAddress}${pathAndQuery}`;
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  } catch (e) {
    const cause = (e as { cause?: { code?: string } }).cause?.code ?? (e as Error).message;
    throw new DebugFetchError(`cannot reach weft control at ${controlAddress} (${cause}); is it running? (--control-address)`);
  }
  const body = await res.text();
  if (!res.ok) throw new DebugFetchError(`${url}: ${res.status}: ${body.trim()}`);
  try {
    return JSON.parse(body) as unknown;
  } catch {
    throw new DebugFetchError(`${url}: the answer is not JSON; is ${controlAddress} weft control's debug address?`);
  }
}
