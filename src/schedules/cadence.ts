import { z } from 'zod';

/** How often a schedule fires: every so many ms, or a 5-field cron in UTC (model.ts parses what people write). */
export const CadenceSchema = z.union([z.object({ every: z.number().int().positive() }).strict(), z.object({ cron: z.string().min(1) }).strict()]);
export type Cadence = z.infer<typeof CadenceSchema>;
