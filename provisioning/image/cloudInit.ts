// The NoCloud files Raspberry Pi OS (Trixie) reads from its boot partition on first boot: user-data
// (cloud-config), network-config (v2) and meta-data. Every string is written as a JSON scalar, which
// YAML reads as the same string whatever it holds.

const q = (s: string) => JSON.stringify(s);

/** Where the first boot finds the gateway files on the boot partition and puts them. */
export const BOOT_DIR = '/boot/firmware/latchkey';
export const BOOT_SUBDIR = 'latchkey';
export const ON_GATEWAY = {
  config: '/etc/latchkey/config.json',
  passwordFile: '/etc/latchkey/key-password',
  keystore: '/var/lib/latchkey/gateway.json',
  dataDir: '/var/lib/latchkey/data',
  unit: '/etc/systemd/system/latchkey.service',
} as const;

export interface FirstBoot {
  hostname: string;
  adminUser: string;
  sshKeys: string[];
  timezone: string;
  tarball: string;
  ntpServers: string[];
}

export function userData(o: FirstBoot): string {
  const b = BOOT_DIR;
  const install = [
    'set -eu',
    `B=${b}`,
    'install -d -m 0750 -o root -g latchkey /etc/latchkey',
    `install -m 0640 -o root -g latchkey "$B/config.json" ${ON_GATEWAY.config}`,
    `install -m 0600 -o root -g root "$B/key-password" ${ON_GATEWAY.passwordFile}`,
    'install -d -m 0700 -o latchkey -g latchkey /var/lib/latchkey',
    `install -m 0600 -o latchkey -g latchkey "$B/gateway.json" ${ON_GATEWAY.keystore}`,
    // the secrets leave the FAT partition, which any reader of the card sees
    'rm -f "$B/key-password" "$B/gateway.json" "$B/config.json"',
    `npm install --global --omit=dev --no-audit --no-fund "$B/${o.tarball}"`,
    `install -m 0644 "$B/latchkey.service" ${ON_GATEWAY.unit}`,
    'systemctl daemon-reload',
    'systemctl enable --now latchkey.service',
  ].join('\n');
  return `#cloud-config
# Latchkey gateway first boot (written by \`latchkey image\`).
hostname: ${q(o.hostname)}
manage_etc_hosts: true
timezone: ${q(o.timezone)}
groups:
  - gpio
  - dialout
users:
  - name: latchkey
    system: true
    groups: [gpio, dialout]
    shell: /usr/sbin/nologin
    homedir: /var/lib/latchkey
    no_create_home: true
    lock_passwd: true
  - name: ${q(o.adminUser)}
    groups: [sudo, adm]
    sudo: "ALL=(ALL) NOPASSWD:ALL"
    shell: /bin/bash
    lock_passwd: true
    ssh_authorized_keys:
${o.sshKeys.map((k) => `      - ${q(k)}`).join('\n')}
ssh_pwauth: false
ntp:
  enabled: true
  ntp_client: systemd-timesyncd
${o.ntpServers.length > 0 ? `  servers:\n${o.ntpServers.map((s) => `    - ${q(s)}`).join('\n')}\n` : ''}package_update: true
packages:
  - nodejs
  - npm
  - build-essential
  - python3
  - mosquitto-clients
runcmd:
  - [systemctl, enable, --now, ssh]
  - [sh, -c, ${q(install)}]
`;
}

export interface Network {
  wifi?: { ssid: string; password: string; country: string };
}

export function networkConfig(n: Network): string {
  const eth = 'network:\n  version: 2\n  ethernets:\n    eth0:\n      dhcp4: true\n      optional: true\n';
  if (!n.wifi) return eth;
  return (
    `${eth}  wifis:\n    wlan0:\n      dhcp4: true\n      optional: true\n` +
    `      regulatory-domain: ${q(n.wifi.country)}\n      access-points:\n        ${q(n.wifi.ssid)}:\n` +
    `          password: ${q(n.wifi.password)}\n`
  );
}

export function metaData(hostname: string, instanceId: string): string {
  return `instance-id: ${q(instanceId)}\nlocal-hostname: ${q(hostname)}\n`;
}
