// A simulated Arduino Uno for the Firmata driver's tests: simavr runs real firmware (a .hex),
// exposes the board's UART as a pseudo-terminal (as a USB serial adapter would appear), and reports
// every digital pin change on stdout as "pin <arduino pin> <0|1>". Commands on stdin: "reset"
// (the reset button: the firmware boots again, outputs low) and "quit".
//
// Usage: firmata-board <firmware.hex>. Prints "pty <path>" once the UART is up.

#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <simavr/avr_ioport.h>
#include <simavr/parts/uart_pty.h>
#include <simavr/sim_avr.h>
#include <simavr/sim_hex.h>

// How many times faster than the real chip to run: fast enough for the tests, without a spinning core.
#define SPEED 4.0

static uart_pty_t uart;

static void pin_changed(struct avr_irq_t *irq, uint32_t value, void *param) {
  (void)irq;
  printf("pin %d %u\n", (int)(intptr_t)param, value ? 1u : 0u);
  fflush(stdout);
}

static void watch_port(avr_t *avr, char port, int first_pin, int count) {
  for (int bit = 0; bit < count; bit++) {
    avr_irq_t *irq = avr_io_getirq(avr, AVR_IOCTL_IOPORT_GETIRQ(port), bit);
    avr_irq_register_notify(irq, pin_changed, (void *)(intptr_t)(first_pin + bit));
  }
}

static int load(avr_t *avr, const char *path) {
  uint32_t size = 0, base = 0;
  uint8_t *code = read_ihex_file(path, &size, &base);
  if (!code) return -1;
  memcpy(avr->flash + base, code, size);
  free(code);
  avr->pc = base;
  avr->codeend = avr->flashend;
  return 0;
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s <firmware.hex>\n", argv[0]);
    return 2;
  }
  avr_t *avr = avr_make_mcu_by_name("atmega328p");
  if (!avr) return 3;
  avr_init(avr);
  avr->frequency = 16000000;
  avr->log = LOG_ERROR;
  if (load(avr, argv[1]) != 0) {
    fprintf(stderr, "cannot read %s\n", argv[1]);
    return 4;
  }
  watch_port(avr, 'D', 0, 8);  // Arduino pins 0-7
  watch_port(avr, 'B', 8, 6);  // Arduino pins 8-13
  uart_pty_init(avr, &uart);
  uart_pty_connect(&uart, '0');
  printf("pty %s\n", uart.pty.slavename);
  fflush(stdout);

  fcntl(STDIN_FILENO, F_SETFL, fcntl(STDIN_FILENO, F_GETFL) | O_NONBLOCK);
  char line[64];
  size_t used = 0;
  struct timespec started;
  clock_gettime(CLOCK_MONOTONIC, &started);
  for (unsigned long n = 0;; n++) {
    int state = avr_run(avr);
    if (state == cpu_Done || state == cpu_Crashed) {
      fprintf(stderr, "cpu stopped (%d)\n", state);
      return 5;
    }
    if (n % 20000 != 0) continue;
    // Run at the chip's real speed rather than as fast as the host can (a spinning core each).
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    double wall = (double)(now.tv_sec - started.tv_sec) + (double)(now.tv_nsec - started.tv_nsec) / 1e9;
    double ahead = (double)avr->cycle / (double)avr->frequency / SPEED - wall;
    if (ahead > 0.002) {
      struct timespec pause = {.tv_sec = 0, .tv_nsec = (long)(ahead * 1e9)};
      nanosleep(&pause, NULL);
    }
    struct pollfd p = {.fd = STDIN_FILENO, .events = POLLIN};
    if (poll(&p, 1, 0) <= 0) continue;
    ssize_t got = read(STDIN_FILENO, line + used, sizeof line - 1 - used);
    if (got == 0) return 0;  // stdin closed: the test is gone
    if (got < 0) continue;
    used += (size_t)got;
    line[used] = 0;
    char *nl;
    while ((nl = strchr(line, '\n')) != NULL) {
      *nl = 0;
      if (strcmp(line, "reset") == 0) {
        avr_reset(avr);
        clock_gettime(CLOCK_MONOTONIC, &started);
        printf("reset\n");
        fflush(stdout);
      } else if (strcmp(line, "quit") == 0) {
        uart_pty_stop(&uart);
        return 0;
      }
      memmove(line, nl + 1, strlen(nl + 1) + 1);
      used = strlen(line);
    }
  }
}
