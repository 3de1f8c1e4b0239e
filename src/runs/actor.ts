import { z } from 'zod';

/** Who acted: a Slack user, a CLI operator, or the bot itself. */
export const ActorSchema = z.object({
  /** Slack user id (`U…`; a CLI operator's is the one DR_CLI_OPERATORS maps their key to), or `cli:<name>` in older runs. */
  id: z.string().min(1).max(100),
  name: z.string().max(100).optional(),
  via: z.enum(['slack', 'cli', 'system']),
  /** CLI only: the OS user and host the command came from, as that machine reported them. */
  osUser: z.string().max(100).optional(),
  host: z.string().max(255).optional(),
});
export type Actor = z.infer<typeof ActorSchema>;
