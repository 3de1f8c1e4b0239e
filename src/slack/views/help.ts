import { COMMAND_SPECS, type CommandSpec } from '../grammar.ts';
import { fitBlocks, MESSAGE_LIMITS, packLines, TEXT_RECOMMENDED_LIMIT } from '../limits.ts';
import { capText } from '../../util/text.ts';
import { context, header, type SlackMessage, section } from './message.ts';

/** `/dr help` and `/dr help <command>`: the grammar with examples. */
export function renderHelp(slash: string, topic?: string): SlackMessage {
  const spec = COMMAND_SPECS.find((s) => s.name === topic);
  if (spec) {
    const text = `*\`${slash} ${spec.usage}\`*\n${spec.summary}\n${examples(slash, spec)}`;
    return { text: `${slash} ${spec.usage}: ${spec.summary}`, blocks: fitBlocks([section(text)], MESSAGE_LIMITS) };
  }
  const lines = COMMAND_SPECS.map((s) => `• \`${slash} ${s.usage}\` — ${s.summary}`);
  return {
    text: capText(`Commands: ${COMMAND_SPECS.map((s) => `${slash} ${s.usage}`).join(', ')}`, TEXT_RECOMMENDED_LIMIT),
    blocks: fitBlocks(
      [
        header('Disaster recovery commands'),
        // Whole lines per section: a longer grammar never cuts a command in half.
        ...packLines(lines).map((t) => section(t)),
        context(`Quote text with spaces: \`"like this"\`. Details and examples: \`${slash} help <command>\`.`),
      ],
      MESSAGE_LIMITS,
    ),
  };
}

function examples(slash: string, spec: CommandSpec): string {
  return spec.examples.map((e) => `>\`${slash} ${e}\``).join('\n');
}
