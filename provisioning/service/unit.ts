// The systemd unit of the compiled agent: a notify service with a watchdog, run as the unprivileged
// `latchkey` user (in `gpio` and `dialout` for relays and serial boards), its key password handed over
// as a credential, and sandboxed as far as a Node.js agent driving GPIO and serial ports still works.

export interface UnitOptions {
  /** Absolute path of node. */
  node: string;
  /** Absolute path of the compiled agent's main.js. */
  agent: string;
  /** The agent's config file (LATCHKEY_CONFIG). */
  config: string;
  /** The file holding the gateway keystore's password (read by systemd, given as a credential). */
  passwordFile: string;
  user: string;
  /** Seconds without a WATCHDOG=1 after which systemd restarts the agent. */
  watchdogSeconds: number;
}

export const UNIT_DEFAULTS = {
  node: '/usr/bin/node',
  // npm install --global on Debian puts packages under /usr/local
  agent: '/usr/local/lib/node_modules/latchkey/dist/agent/main.js',
  config: '/etc/latchkey/config.json',
  passwordFile: '/etc/latchkey/key-password',
  user: 'latchkey',
  watchdogSeconds: 30,
} as const satisfies UnitOptions;

/** The unit file text. Every path must be absolute and free of spaces and specifiers. */
export function unitFile(o: UnitOptions): string {
  return `# Latchkey gateway agent (written by \`latchkey service\`).
[Unit]
Description=Latchkey gateway agent: rents out locks and sockets
Documentation=man:systemd.exec(5)
Wants=network-online.target time-sync.target
After=network-online.target time-sync.target mosquitto.service

[Service]
Type=notify
NotifyAccess=main
ExecStart=${o.node} --max-semi-space-size=1 ${o.agent}
User=${o.user}
Group=${o.user}
SupplementaryGroups=gpio dialout
Environment=LATCHKEY_CONFIG=${o.config}
Environment=LATCHKEY_KEY_PASSWORD_FILE=%d/key-password
LoadCredential=key-password:${o.passwordFile}
StateDirectory=latchkey
StateDirectoryMode=0700
WorkingDirectory=/var/lib/latchkey
UMask=0077

# A stalled event loop stops the WATCHDOG=1 pings: systemd aborts the agent and starts it again, and
# the agent drives every relay safe at start. The first backfill after a long downtime can take minutes.
Restart=on-failure
RestartSec=2
WatchdogSec=${o.watchdogSeconds}
TimeoutStartSec=15min
TimeoutStopSec=30

# Sandbox. Not MemoryDenyWriteExecute (V8 writes its JIT code), not PrivateDevices (it hides
# /dev/gpiochip* and the serial ports), not PrivateUsers (it unmaps the gpio and dialout groups).
NoNewPrivileges=yes
CapabilityBoundingSet=
AmbientCapabilities=
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes
ProtectKernelTunables=yes
# ProtectKernelTunables makes /sys read-only; sysfs GPIO export writes /sys/class/gpio and the
# exported pins' files under /sys/devices/platform, so those two stay writable (for the gpio group).
ReadWritePaths=-/sys/class/gpio -/sys/devices/platform
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
ProtectProc=invisible
PrivateMounts=yes
DevicePolicy=closed
DeviceAllow=char-gpiochip rw
DeviceAllow=char-ttyUSB rw
DeviceAllow=char-ttyACM rw
DeviceAllow=char-ttyAMA rw
DeviceAllow=char-ttyS rw
RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
RemoveIPC=yes
SystemCallArchitectures=native
SystemCallFilter=@system-service
SystemCallFilter=~@privileged
SystemCallErrorNumber=EPERM

[Install]
WantedBy=multi-user.target
`;
}
