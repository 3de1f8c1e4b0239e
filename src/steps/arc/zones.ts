import { DescribeAvailabilityZonesCommand, type EC2Client } from '@aws-sdk/client-ec2';
import { PermanentStepError } from '../types.ts';

/** An Availability Zone id, as zonal shift names zones (use1-az1, euw1-az3). */
export const AZ_ID = /^[a-z]{2,6}\d+-az\d+$/;
/** An Availability Zone name, as Kubernetes labels name zones (us-east-1a). */
export const AZ_NAME = /^[a-z]{2}(-[a-z]+)+-\d[a-z]$/;

export interface Zone {
  /** us-east-1a */
  name: string;
  /** use1-az1 */
  id: string;
}

/**
 * The zone `zone` (a name or an id) is, as EC2 says for this account and
 * region. Never derived from the name: which id a name stands for differs
 * between AWS accounts (API-FACTS 8.9).
 */
export async function resolveZone(ec2: EC2Client, zone: string, region: string): Promise<Zone> {
  if (!AZ_ID.test(zone) && !AZ_NAME.test(zone)) {
    throw new PermanentStepError(`\`${zone.slice(0, 40)}\` is not an Availability Zone: give its name, like us-east-1a (as the node label topology.kubernetes.io/zone says), or its id, like use1-az1`);
  }
  let found;
  try {
    found = await ec2.send(new DescribeAvailabilityZonesCommand({}));
  } catch (err) {
    const name = err instanceof Error ? err.name : '';
    if (name === 'UnauthorizedOperation' || name === 'AuthFailure') throw new PermanentStepError(`EC2 refused DescribeAvailabilityZones in ${region} (${name}): the target's role needs ec2:DescribeAvailabilityZones`, { cause: err });
    throw err;
  }
  const zones = (found.AvailabilityZones ?? []).flatMap((z) => (z.ZoneName && z.ZoneId ? [{ name: z.ZoneName, id: z.ZoneId }] : []));
  const match = zones.find((z) => z.name === zone || z.id === zone);
  if (!match) {
    const known = zones.map((z) => `${z.name} (${z.id})`).join(', ') || 'none';
    throw new PermanentStepError(`there is no Availability Zone ${zone} in ${region} for this account; its zones are: ${known}`);
  }
  return match;
}
