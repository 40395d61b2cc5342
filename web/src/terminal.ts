/**
 * The console: xterm.js with xterm-readline's line editing and history, tab completion
 * of tools, subcommands, devices, namespaces and files, and a plain-text copy of
 * everything printed in the `role="log"` element (for screen readers and tests).
 */

import { Terminal } from '@xterm/xterm';
import { FitAddon } from '@xterm/addon-fit';
import { Readline } from 'xterm-readline';
import '@xterm/xterm/css/xterm.css';
import { complete, type CompletionWorld } from './complete.js';
import { prompt } from './session.js';

const LOG_MAX = 400_000;

export interface Console {
  write(text: string, stream?: 'stdout' | 'stderr' | 'echo'): void;
  /** Reads lines forever, handing each to `run`. */
  loop(run: (line: string) => Promise<void>, interrupt: () => boolean): Promise<never>;
  focus(): void;
}

export function createConsole(host: HTMLElement, log: HTMLElement, world: () => CompletionWorld): Console {
  const term = new Terminal({
    convertEol: true, cursorBlink: true, fontSize: 13, scrollback: 5000,
    fontFamily: 'ui-monospace, SFMono-Regular, Menlo, Consolas, monospace',
    theme: { background: '#0b0f14', foreground: '#d8dee6' },
  });
  const fit = new FitAddon();
  const rl = new Readline();
  term.loadAddon(fit);
  term.loadAddon(rl);
  term.open(host);
  fit.fit();
  new ResizeObserver(() => fit.fit()).observe(host);

  let logText = '';
  const toLog = (t: string): void => {
    logText += t;
    if (logText.length > LOG_MAX) logText = logText.slice(logText.length - LOG_MAX / 2);
    log.textContent = logText;
  };
  // Output that arrives while a line is being edited goes above the prompt.
  let reading = false;
  const write = (text: string, stream: 'stdout' | 'stderr' | 'echo' = 'stdout'): void => {
    toLog(text);
    const colored = stream === 'stderr' ? `\x1b[31m${text}\x1b[0m` : stream === 'echo' && text.startsWith('#') ? `\x1b[90m${text}\x1b[0m` : stream === 'echo' ? `\x1b[36m${text}\x1b[0m` : text;
    if (reading) {
      const line = rl.getLine();
      // (readline redraws its prompt and line on the row the cursor is on)
      term.write(`\r\x1b[2K${colored}`);
      rl.updateLine(line);
    } else term.write(colored);
  };

  // Tab: complete the word under the cursor (the line up to the end), or list the choices.
  term.attachCustomKeyEventHandler((e) => {
    if (e.key !== 'Tab') return true;
    if (e.type === 'keydown' && reading) {
      const line = rl.getLine();
      const r = complete(line, world());
      if (r.choices.length === 1) rl.updateLine(r.prefix + r.choices[0]! + ' ');
      else if (r.choices.length > 1) {
        const common = r.choices.reduce((a, b) => { let i = 0; while (i < a.length && a[i] === b[i]) i++; return a.slice(0, i); });
        term.write(`\r\n${r.choices.join('  ')}\r\n`);
        rl.updateLine(r.prefix + common);
      }
    }
    e.preventDefault();
    return false;
  });

  return {
    write,
    focus: () => term.focus(),
    async loop(run, interrupt) {
      rl.setCtrlCHandler(() => { if (!interrupt()) term.write('^C\r\n'); });
      for (;;) {
        reading = true;
        const line = await rl.read(prompt());
        reading = false;
        toLog(`${prompt()}${line}\n`);
        await run(line);
      }
    },
  };
}
