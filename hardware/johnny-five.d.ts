// johnny-five and firmata ship no types; the Firmata board (firmataBoard.ts) types the little it uses.
declare module 'johnny-five' {
  const five: unknown;
  export default five;
}

declare module 'firmata' {
  const Firmata: unknown;
  export default Firmata;
}
