import { RDSClient } from '@aws-sdk/client-rds';
import type { Config } from '../config/schema.ts';

/**
 * The clients steps use, made on first use from the config (so a bot that
 * never restores a database needs no AWS settings). Endpoints are
 * overridable for proxies, GovCloud, emulators and tests.
 */
export interface StepClients {
  readonly rds: () => RDSClient;
}

export function createStepClients(config: Pick<Config, 'aws'>): StepClients {
  let rds: RDSClient | undefined;
  return {
    rds: () => {
      const endpoint = config.aws.rdsEndpointUrl ?? config.aws.endpointUrl;
      rds ??= new RDSClient({
        ...(config.aws.region ? { region: config.aws.region } : {}),
        ...(endpoint ? { endpoint } : {}),
        // The SDK retries throttling and 5xx itself; the engine retries again with its own backoff.
        maxAttempts: 3,
      });
      return rds;
    },
  };
}
