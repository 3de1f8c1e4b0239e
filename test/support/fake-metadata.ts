/**
 * A stand-in for the cloud instance metadata service (169.254.169.254) on
 * loopback: every request gets IAM role credentials as the real one hands
 * them out. Tests point a redirect at it and check that nothing came.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { LoopbackFake, readBody } from './loopback.ts';

/** Fake credentials, shaped like the real ones, so that redaction patterns meet what they exist for. */
export const FAKE_IMDS_CREDENTIALS = {
  Code: 'Success',
  LastUpdated: '2026-01-01T00:00:00Z',
  Type: 'AWS-HMAC',
  AccessKeyId: 'ASIAFAKEIMDSKEY00001',
  SecretAccessKey: 'fAkEsEcReT/imds+K7MDENG/bPxRfiCYEXAMPLE01',
  Token: 'IQoJb3JpZ2luX2VjEFAKEtokenFAKEtokenFAKEtoken0123456789abcdefFAKE==',
  Expiration: '2026-01-01T06:00:00Z',
};

/** The values that must never appear anywhere a person or the audit log can see. */
export const FAKE_IMDS_SECRETS = [FAKE_IMDS_CREDENTIALS.AccessKeyId, FAKE_IMDS_CREDENTIALS.SecretAccessKey, FAKE_IMDS_CREDENTIALS.Token];

export class FakeMetadata extends LoopbackFake {
  readonly requests: { method: string; path: string }[] = [];

  protected async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    await readBody(req);
    this.requests.push({ method: req.method ?? 'GET', path: req.url ?? '/' });
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(FAKE_IMDS_CREDENTIALS));
  }
}
