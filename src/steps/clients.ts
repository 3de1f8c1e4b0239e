import { RDSClient } from '@aws-sdk/client-rds';
import { AppsV1Api, CoreV1Api, CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import type { Config } from '../config/schema.ts';

/**
 * The clients steps use, made on first use from the config (so a bot that
 * never restores a database needs no AWS settings). Endpoints are
 * overridable for proxies, GovCloud, emulators and tests.
 */
export interface StepClients {
  readonly rds: () => RDSClient;
  readonly kube: () => KubeApis;
}

export interface KubeApis {
  apps: AppsV1Api;
  core: CoreV1Api;
  /** Velero's velero.io/v1 objects. */
  custom: CustomObjectsApi;
}

export function createStepClients(config: Pick<Config, 'aws' | 'kubernetes'>): StepClients {
  let rds: RDSClient | undefined;
  let kube: KubeApis | undefined;
  return {
    kube: () => {
      if (!kube) {
        const kc = new KubeConfig();
        // KUBECONFIG when set; otherwise ~/.kube/config, or the in-cluster service account.
        if (config.kubernetes.kubeconfig) kc.loadFromFile(config.kubernetes.kubeconfig);
        else kc.loadFromDefault();
        kube = { apps: kc.makeApiClient(AppsV1Api), core: kc.makeApiClient(CoreV1Api), custom: kc.makeApiClient(CustomObjectsApi) };
      }
      return kube;
    },
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
