// What `latchkey board` prints for one device: the maker's instructions for its relay driver.

import type { DeviceConfig } from '../../agent/config.js';

export interface BoardContext {
  device: DeviceConfig;
  gatewayId: string;
  /** The broker the agent uses (the plug must use the same one). */
  mqttUrl: string;
}

export interface BoardSheet {
  title: string;
  /** Sections of text: a heading and its lines. */
  sections: { heading: string; lines: string[] }[];
  /** Files to write with --out (name → contents), e.g. an ESPHome YAML. */
  files?: Record<string, string>;
}
