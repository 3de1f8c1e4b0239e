import { COMMAND_SPECS, type CommandSpec } from '../grammar.ts';
import { context, header, type SlackMessage, section } from './message.ts';

/** `/dr help` and `/dr help <command>`: the grammar with examples. */
export function renderHelp(slash: string, topic?: string): SlackMessage {
  const spec = COMMAND_SPECS.find((s) => s.name === topic);
  if (spec) {
    const text = `*\`${slash} ${spec.usage}\`*\n${spec.summary}\n${examples(slash, spec)}`;
    return { text: `${slash} ${spec.usage}: ${spec.summary}`, blocks: [section(text)] };
  }
  const lines = COMMAND_SPECS.map((s) => `• \`${slash} ${s.usage}\` — ${s.summary}`);
  return {
    text: `Commands: ${COMMAND_SPECS.map((s) => `${slash} ${s.usage}`).join(', ')}`,
    blocks: [
      header('Disaster recovery commands'),
      section(lines.join('\n')),
      context(`Quote text with spaces: \`"like this"\`. Details and examples: \`${slash} help <command>\`.`),
    ],
  };
}

function examples(slash: string, spec: CommandSpec): string {
  return spec.examples.map((e) => `>\`${slash} ${e}\``).join('\n');
}
