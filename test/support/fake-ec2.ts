/**
 * A loopback Amazon EC2 for DescribeAvailabilityZones only, as
 * @aws-sdk/client-ec2 speaks it: EC2's query dialect (`Action=…&Version=…`
 * form bodies, flattened lists like `ZoneName.1`), XML answers and
 * `<Response><Errors>` errors. The zones are per region, each a name (us-east-1a,
 * what Kubernetes labels say) and an id (use1-az1, what zonal shift takes):
 * which name is which id differs between AWS accounts, so a test sets it.
 * Requests are signed for `ec2` (aws-sigv4.ts) and checked against EC2's model.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { checkQueryRequest } from './aws-models/query.ts';
import { recordModelRefusal } from './aws-models/refusals.ts';
import { checkSigV4, signingOptions } from './aws-sigv4.ts';
import type { FakeSts } from './fake-sts.ts';
import { LoopbackFake, readBody } from './loopback.ts';

const NAMESPACE = 'http://ec2.amazonaws.com/doc/2016-11-15/';

export interface FakeZone {
  name: string;
  id: string;
}

export class FakeEc2 extends LoopbackFake {
  readonly calls: { action: string; region?: string | undefined; params: Record<string, string>; error?: string }[] = [];
  readonly knownSecrets = new Map<string, string>();
  private readonly zones = new Map<string, FakeZone[]>();
  private sessionIssuer: FakeSts | undefined;

  trustSessionsFrom(sts: FakeSts): this {
    this.sessionIssuer = sts;
    return this;
  }

  /** The region's Availability Zones as this account sees them: `[['us-east-1a', 'use1-az1'], …]`. */
  setZones(region: string, zones: readonly (readonly [name: string, id: string])[]): this {
    this.zones.set(region, zones.map(([name, id]) => ({ name, id })));
    return this;
  }

  protected async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const raw = await readBody(req);
    const { Action: action = '', ...params } = Object.fromEntries(new URLSearchParams(raw));
    const call: (typeof this.calls)[number] = { action, params };
    this.calls.push(call);
    const refuse = (status: number, code: string, message: string) => {
      call.error = code;
      res
        .writeHead(status, { 'content-type': 'text/xml' })
        .end(`<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>${code}</Code><Message>${escape(message)}</Message></Error></Errors><RequestID>${randomUUID()}</RequestID></Response>`);
    };
    // EC2 answers every signing problem with AuthFailure.
    const { signer, problem: signing } = checkSigV4(req, raw, signingOptions('ec2', this.sessionIssuer, this.knownSecrets));
    call.region = signer?.region;
    if (signing) {
      refuse(401, 'AuthFailure', signing.message);
      return;
    }
    const problem = checkQueryRequest('ec2', action, params);
    if (problem) {
      recordModelRefusal({ service: 'ec2', operation: action, ...problem });
      refuse(400, problem.code, problem.message);
      return;
    }
    if (action !== 'DescribeAvailabilityZones') {
      refuse(400, 'UnsupportedOperation', `The fake EC2 does not implement ${action}.`);
      return;
    }
    const region = signer?.region ?? '';
    const all = this.zones.get(region) ?? [];
    const wanted = (prefix: string) => Object.entries(params).filter(([k]) => k.startsWith(`${prefix}.`)).map(([, v]) => v);
    const names = wanted('ZoneName');
    const ids = wanted('ZoneId');
    if (Object.keys(params).some((k) => k.startsWith('Filter.'))) {
      refuse(400, 'UnsupportedOperation', 'The fake EC2 does not filter Availability Zones by Filter.');
      return;
    }
    // EC2 refuses a name or id the region does not have, rather than answering without it.
    const unknownName = names.find((n) => !all.some((z) => z.name === n));
    if (unknownName) {
      refuse(400, 'InvalidParameterValue', `Invalid availability zone: [${unknownName}]`);
      return;
    }
    const unknownId = ids.find((i) => !all.some((z) => z.id === i));
    if (unknownId) {
      refuse(400, 'InvalidParameterValue', `Invalid availability zone id: [${unknownId}]`);
      return;
    }
    const zones = all.filter((z) => (names.length === 0 && ids.length === 0) || names.includes(z.name) || ids.includes(z.id));
    const items = zones
      .map(
        (z) =>
          `<item><zoneState>available</zoneState><optInStatus>opt-in-not-required</optInStatus><messageSet/><regionName>${region}</regionName>` +
          `<zoneName>${z.name}</zoneName><zoneId>${z.id}</zoneId><groupName>${region}</groupName><networkBorderGroup>${region}</networkBorderGroup><zoneType>availability-zone</zoneType></item>`,
      )
      .join('');
    res
      .writeHead(200, { 'content-type': 'text/xml;charset=UTF-8' })
      .end(`<?xml version="1.0" encoding="UTF-8"?>\n<DescribeAvailabilityZonesResponse xmlns="${NAMESPACE}"><requestId>${randomUUID()}</requestId><availabilityZoneInfo>${items}</availabilityZoneInfo></DescribeAvailabilityZonesResponse>`);
  }
}

function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
