// Every word the guest page shows, in English and Korean: one table per language with the same keys
// (the compiler checks that), and a sentence for each reply code the agent can send.

import type { ReplyCode } from '../../agent/mqtt/topics.js';

const en = {
  title: 'Latchkey',
  loading: 'Loading…',
  gatewayUnreachable: 'The gateway does not answer: {why}',
  gatewayOk: 'Gateway {gateway} is online',
  gatewayDown: 'Gateway {gateway} is offline',
  devicesHere: 'Devices on this gateway',
  unknownDevice: 'Device {device} is not on this gateway.',
  lock: 'Lock',
  socket: 'Power socket',
  deviceName: '{kind} {device}',
  pricePerHour: '{amount} per hour',
  pricePerKwh: '+ {amount} per kWh used',
  chainIs: 'Chain: {chain}',
  freeNow: 'Free now',
  freeFrom: 'Booked now: next free from {time}',
  inactive: 'The host has closed this device to new rentals.',
  duration: 'How long?',
  minutes: '{n} min',
  hours: '{n} h',
  depositIs: 'Deposit: {amount}',
  depositNote:
    'You pay the deposit now. At checkout you pay only for what you used (at most {max}); the rest comes back at once.',
  unusedBack: 'If you do not use it: {amount} back',
  cancelRule:
    'Cancel free until {hours} h before the start; after that the fee grows to the whole rent at the start.',
  cancelAlwaysFree: 'Cancel free any time before the start.',
  energyAllowance:
    'Includes up to {wh} Wh of energy. The socket switches off when they are used; extend to top up.',
  connectWallet: 'Connect wallet',
  pickWallet: 'Choose your wallet',
  rent: 'Rent for {amount}',
  connectedAs: 'Wallet {address}',
  balanceIs: 'Balance {amount}',
  noWallet: 'No wallet found in this browser',
  whatIsWallet:
    'A wallet is an app that holds your money for this chain and signs for you. Open this page inside your wallet app to rent:',
  openIn: 'Open in {wallet}',
  devWallet: 'Development wallet (test money, this machine only)',
  steps: 'Renting',
  stepSign: 'Confirm the payment in your wallet…',
  stepMined: 'Payment sent ({hash}). Waiting for it to be in a block…',
  stepConfirmations: 'In a block. Confirmations: {n} of {need}',
  stepGateway: 'Confirmed on chain. Waiting for the gateway to see it…',
  stepReady: 'Your rental is ready.',
  yourRental: 'Your rental',
  timeLeft: '{time} left',
  endsAt: 'Ends at {time}',
  startsAt: 'Starts at {time}',
  used: 'Used {time}',
  energyUsed: 'Energy used: {wh} Wh',
  stateLocked: 'Locked',
  stateUnlocked: 'Unlocked',
  stateOn: 'Power is on',
  stateOff: 'Power is off',
  unlock: 'Unlock',
  lockNow: 'Lock',
  powerOn: 'Power on',
  powerOff: 'Power off',
  extend: 'Add 1 hour ({amount})',
  checkout: 'Check out',
  cancelBooking: 'Cancel booking ({refund} back)',
  cancelBookingFee: 'Cancel booking ({refund} back, {fee} fee to the host)',
  cancelling: 'Cancelling: confirm in your wallet…',
  cancelWait: 'Cancel sent ({hash}). Waiting for its block…',
  signToken: 'Sign the request in your wallet…',
  signSession: 'Sign once in your wallet: one signature for this rental, and no more prompts after it…',
  keysOnce:
    'Your first action asks your wallet for one signature for this rental; after that, no more wallet prompts.',
  keysSession:
    'One signature for this rental is done: this browser signs every action itself, with no wallet prompt.',
  keysWallet: 'This browser cannot keep a key for this rental, so your wallet signs each action.',
  sending: 'Sending to the device…',
  viaBroker: 'via the internet broker',
  viaLan: 'via the gateway’s Wi-Fi',
  unlockedFor: 'Unlocked for {n} seconds.',
  locked: 'Locked.',
  poweredOn: 'Power is on.',
  poweredOff: 'Power is off.',
  checkingOut: 'Checking out: the device is signing what you used…',
  checkoutTx: 'Confirm the checkout in your wallet…',
  checkoutWait: 'Checkout sent ({hash}). Waiting for the block…',
  settledByGateway: 'The gateway already settled this rental for you.',
  summary: 'Checked out',
  cancelledSummary: 'Booking cancelled',
  cancelFeeCharged: 'Cancellation fee',
  depositPaid: 'Deposit paid',
  charged: 'Charged',
  chargeTime: '{seconds} s × {price}/s',
  chargeEnergy: '{wh} Wh × {price}/Wh',
  refunded: 'Refunded to you',
  transactions: 'Transactions',
  txRent: 'Rent',
  txExtend: 'Extension',
  txCheckout: 'Checkout',
  txCancel: 'Cancel',
  rentAgain: 'Rent again',
  pastRental: 'Past rental',
  brokerDown: 'The internet broker is not reachable; using the gateway’s Wi-Fi.',
  mixedContent:
    'This page is loaded over HTTPS, so the browser will not let it reach the gateway’s {what} at {url}. Open the page from the gateway itself (http://…) while on its Wi-Fi.',
  noRoute: 'Neither the broker nor the gateway can be reached from this page.',
  noReply: 'The device did not answer in time. Try again.',
  retrying: 'The gateway has not seen your rental yet; trying again…',
  // wallet errors
  wRejected: 'You declined the request in your wallet. Nothing was sent.',
  wLocked: 'Your wallet is locked or has no account open. Unlock it and try again.',
  wPending: 'Your wallet already shows a request. Open it and answer that one first.',
  wWrongAccount:
    'This rental belongs to {owner}, but your wallet is on {address}. Switch the account in your wallet.',
  wNoFunds:
    'Not enough money: the deposit is {deposit} plus about {gas} for the network fee, and your wallet has {balance}.',
  wChain: 'Your wallet could not switch to {chain}: {why}',
  wAddChain: 'Adding {chain} to your wallet…',
  wSwitchChain: 'Switching your wallet to {chain}…',
  wUnsupported: 'Your wallet does not support this request ({why}).',
  wDisconnected: 'Your wallet is not connected to the network.',
  wOther: 'The wallet said: {why}',
  txReverted: 'The chain refused the transaction: {why}',
  language: '한국어',
} as const;

export type StringKey = keyof typeof en;
type Table = Record<StringKey, string>;

const ko: Table = {
  title: 'Latchkey',
  loading: '불러오는 중…',
  gatewayUnreachable: '게이트웨이가 응답하지 않습니다: {why}',
  gatewayOk: '게이트웨이 {gateway} 온라인',
  gatewayDown: '게이트웨이 {gateway} 오프라인',
  devicesHere: '이 게이트웨이의 장치',
  unknownDevice: '장치 {device}은(는) 이 게이트웨이에 없습니다.',
  lock: '도어락',
  socket: '전원 콘센트',
  deviceName: '{kind} {device}',
  pricePerHour: '시간당 {amount}',
  pricePerKwh: '+ 사용 kWh당 {amount}',
  chainIs: '체인: {chain}',
  freeNow: '지금 사용 가능',
  freeFrom: '지금은 예약됨: {time}부터 사용 가능',
  inactive: '호스트가 이 장치의 새 대여를 닫았습니다.',
  duration: '얼마 동안?',
  minutes: '{n}분',
  hours: '{n}시간',
  depositIs: '보증금: {amount}',
  depositNote: '지금 보증금을 냅니다. 체크아웃 때 사용한 만큼만 내고(최대 {max}) 나머지는 바로 돌려받습니다.',
  unusedBack: '사용하지 않으면 {amount} 환불',
  cancelRule: '시작 {hours}시간 전까지 무료 취소. 그 이후에는 수수료가 시작 시점의 전체 요금까지 늘어납니다.',
  cancelAlwaysFree: '시작 전에는 언제든 무료로 취소할 수 있습니다.',
  energyAllowance: '최대 {wh} Wh의 전력이 포함됩니다. 다 쓰면 콘센트가 꺼지며, 연장하면 다시 충전됩니다.',
  connectWallet: '지갑 연결',
  pickWallet: '지갑을 선택하세요',
  rent: '{amount}에 대여',
  connectedAs: '지갑 {address}',
  balanceIs: '잔액 {amount}',
  noWallet: '이 브라우저에 지갑이 없습니다',
  whatIsWallet:
    '지갑은 이 체인의 돈을 보관하고 대신 서명하는 앱입니다. 대여하려면 지갑 앱 안에서 이 페이지를 여세요:',
  openIn: '{wallet}에서 열기',
  devWallet: '개발용 지갑 (테스트 돈, 이 컴퓨터 전용)',
  steps: '대여 중',
  stepSign: '지갑에서 결제를 확인하세요…',
  stepMined: '결제 전송됨 ({hash}). 블록에 담기기를 기다리는 중…',
  stepConfirmations: '블록에 담김. 확인 {n} / {need}',
  stepGateway: '체인에서 확인됨. 게이트웨이가 확인하기를 기다리는 중…',
  stepReady: '대여가 준비되었습니다.',
  yourRental: '내 대여',
  timeLeft: '{time} 남음',
  endsAt: '{time}에 종료',
  startsAt: '{time}에 시작',
  used: '{time} 사용',
  energyUsed: '사용 전력량: {wh} Wh',
  stateLocked: '잠김',
  stateUnlocked: '열림',
  stateOn: '전원 켜짐',
  stateOff: '전원 꺼짐',
  unlock: '열기',
  lockNow: '잠그기',
  powerOn: '전원 켜기',
  powerOff: '전원 끄기',
  extend: '1시간 추가 ({amount})',
  checkout: '체크아웃',
  cancelBooking: '예약 취소 ({refund} 환불)',
  cancelBookingFee: '예약 취소 ({refund} 환불, 호스트에게 수수료 {fee})',
  cancelling: '취소 중: 지갑에서 확인하세요…',
  cancelWait: '취소 전송됨 ({hash}). 블록을 기다리는 중…',
  signToken: '지갑에서 요청에 서명하세요…',
  signSession: '지갑에서 한 번만 서명하세요. 이 대여에는 서명 한 번이면 되고, 그 뒤로는 요청이 없습니다…',
  keysOnce: '첫 동작에서 이 대여를 위한 지갑 서명을 한 번만 요청합니다. 그 뒤로는 지갑 요청이 없습니다.',
  keysSession:
    '이 대여를 위한 서명 한 번이 끝났습니다. 이제 이 브라우저가 모든 동작에 직접 서명하며 지갑 요청이 없습니다.',
  keysWallet: '이 브라우저는 이 대여의 키를 보관할 수 없어서 동작마다 지갑이 서명합니다.',
  sending: '장치로 보내는 중…',
  viaBroker: '인터넷 브로커 경유',
  viaLan: '게이트웨이 Wi-Fi 경유',
  unlockedFor: '{n}초 동안 열렸습니다.',
  locked: '잠겼습니다.',
  poweredOn: '전원이 켜졌습니다.',
  poweredOff: '전원이 꺼졌습니다.',
  checkingOut: '체크아웃 중: 장치가 사용량에 서명하고 있습니다…',
  checkoutTx: '지갑에서 체크아웃을 확인하세요…',
  checkoutWait: '체크아웃 전송됨 ({hash}). 블록을 기다리는 중…',
  settledByGateway: '게이트웨이가 이미 이 대여를 정산했습니다.',
  summary: '체크아웃 완료',
  cancelledSummary: '예약 취소 완료',
  cancelFeeCharged: '취소 수수료',
  depositPaid: '낸 보증금',
  charged: '청구액',
  chargeTime: '{seconds}초 × {price}/초',
  chargeEnergy: '{wh} Wh × {price}/Wh',
  refunded: '환불액',
  transactions: '거래',
  txRent: '대여',
  txExtend: '연장',
  txCheckout: '체크아웃',
  txCancel: '취소',
  rentAgain: '다시 대여',
  pastRental: '지난 대여',
  brokerDown: '인터넷 브로커에 연결할 수 없어 게이트웨이 Wi-Fi를 사용합니다.',
  mixedContent:
    '이 페이지는 HTTPS로 열려 있어 브라우저가 {url}의 게이트웨이 {what}에 연결할 수 없습니다. 게이트웨이 Wi-Fi에서 게이트웨이 주소(http://…)로 페이지를 여세요.',
  noRoute: '이 페이지에서는 브로커에도 게이트웨이에도 연결할 수 없습니다.',
  noReply: '장치가 제때 응답하지 않았습니다. 다시 시도하세요.',
  retrying: '게이트웨이가 아직 대여를 보지 못했습니다. 다시 시도하는 중…',
  wRejected: '지갑에서 요청을 거절했습니다. 아무것도 보내지 않았습니다.',
  wLocked: '지갑이 잠겨 있거나 열린 계정이 없습니다. 잠금을 풀고 다시 시도하세요.',
  wPending: '지갑에 이미 요청이 있습니다. 지갑을 열어 먼저 답하세요.',
  wWrongAccount: '이 대여는 {owner}의 것이지만 지갑은 {address}입니다. 지갑에서 계정을 바꾸세요.',
  wNoFunds: '돈이 부족합니다: 보증금 {deposit}와 수수료 약 {gas}가 필요하고 지갑에는 {balance}가 있습니다.',
  wChain: '지갑이 {chain}(으)로 전환하지 못했습니다: {why}',
  wAddChain: '지갑에 {chain}을(를) 추가하는 중…',
  wSwitchChain: '지갑을 {chain}(으)로 전환하는 중…',
  wUnsupported: '지갑이 이 요청을 지원하지 않습니다 ({why}).',
  wDisconnected: '지갑이 네트워크에 연결되어 있지 않습니다.',
  wOther: '지갑 메시지: {why}',
  txReverted: '체인이 거래를 거부했습니다: {why}',
  language: 'English',
};

/** A sentence for each code of the agent's replies: what happened, in the guest's words. */
const replyEn: Record<ReplyCode, string> = {
  malformed: 'The request was damaged on the way. Try again.',
  'wrong-device': 'That request was for another device.',
  'action-not-allowed': 'This device cannot do that.',
  'clock-untrusted':
    'The gateway’s clock is not set yet, so it cannot check your rental. Try again in a minute.',
  expired: 'The request expired before it arrived. Try again (check that your phone’s clock is right).',
  'validity-too-long': 'The request is valid for too long; the gateway accepts at most a few minutes.',
  'unknown-rental': 'The gateway has not seen this rental confirmed on chain yet.',
  'rental-not-open': 'This rental is already checked out or cancelled.',
  'not-started': 'Your rental has not started yet.',
  ended: 'Your rental has ended.',
  'nonce-used': 'That request was already used once. Try again.',
  'bad-signature': 'The signature does not check out.',
  'no-session': 'This browser’s key is not known to the gateway any more. Sign with your wallet.',
  'not-renter': 'This wallet is not the one that rented the device.',
  'rate-limited': 'Too many requests: the gateway is pausing this one. Wait a little and try again.',
  'unknown-device': 'This gateway does not drive that device.',
  refused: 'The device refused: {detail}',
  'relay-failed': 'The device did not switch. Tell the host; nothing was charged for the attempt.',
  'device-offline':
    'The device is not answering (no power or network). Nothing was switched; try again once it is back.',
  unavailable: 'The gateway cannot act right now. Try again shortly.',
  internal: 'The gateway had an internal error. Try again.',
  'too-large': 'The request is too large.',
  'wrong-origin': 'The gateway only takes requests from its own page.',
  'wrong-host': 'The gateway does not answer to this address.',
  'unsupported-media-type': 'The request was sent in the wrong format.',
  'method-not-allowed': 'The gateway does not take that request here.',
  'bad-url': 'The address is not valid.',
};

const replyKo: Record<ReplyCode, string> = {
  malformed: '요청이 전송 중 손상되었습니다. 다시 시도하세요.',
  'wrong-device': '다른 장치에 대한 요청이었습니다.',
  'action-not-allowed': '이 장치는 그 동작을 할 수 없습니다.',
  'clock-untrusted': '게이트웨이 시계가 아직 맞지 않아 대여를 확인할 수 없습니다. 잠시 후 다시 시도하세요.',
  expired: '요청이 도착하기 전에 만료되었습니다. 다시 시도하세요 (휴대폰 시계를 확인하세요).',
  'validity-too-long': '요청의 유효 시간이 너무 깁니다. 게이트웨이는 몇 분까지만 받습니다.',
  'unknown-rental': '게이트웨이가 아직 체인에서 이 대여의 확인을 보지 못했습니다.',
  'rental-not-open': '이 대여는 이미 체크아웃되었거나 취소되었습니다.',
  'not-started': '대여가 아직 시작되지 않았습니다.',
  ended: '대여가 끝났습니다.',
  'nonce-used': '이미 한 번 사용된 요청입니다. 다시 시도하세요.',
  'bad-signature': '서명이 맞지 않습니다.',
  'no-session': '게이트웨이가 이 브라우저의 키를 더 이상 알지 못합니다. 지갑으로 서명하세요.',
  'not-renter': '이 지갑은 장치를 대여한 지갑이 아닙니다.',
  'rate-limited': '요청이 너무 많아 게이트웨이가 잠시 멈췄습니다. 조금 기다렸다가 다시 시도하세요.',
  'unknown-device': '이 게이트웨이는 그 장치를 다루지 않습니다.',
  refused: '장치가 거부했습니다: {detail}',
  'relay-failed': '장치가 전환되지 않았습니다. 호스트에게 알리세요. 이 시도에는 요금이 없습니다.',
  'device-offline':
    '장치가 응답하지 않습니다 (전원 또는 네트워크 없음). 아무것도 전환되지 않았습니다. 장치가 돌아오면 다시 시도하세요.',
  unavailable: '게이트웨이가 지금은 동작할 수 없습니다. 잠시 후 다시 시도하세요.',
  internal: '게이트웨이 내부 오류입니다. 다시 시도하세요.',
  'too-large': '요청이 너무 큽니다.',
  'wrong-origin': '게이트웨이는 자신의 페이지에서 온 요청만 받습니다.',
  'wrong-host': '게이트웨이가 이 주소에 응답하지 않습니다.',
  'unsupported-media-type': '요청 형식이 잘못되었습니다.',
  'method-not-allowed': '게이트웨이가 여기서 그 요청을 받지 않습니다.',
  'bad-url': '주소가 올바르지 않습니다.',
};

export type Lang = 'en' | 'ko';
const tables: Record<Lang, { words: Table; replies: Record<ReplyCode, string> }> = {
  en: { words: en, replies: replyEn },
  ko: { words: ko, replies: replyKo },
};

let lang: Lang = 'en';

export function setLang(next: Lang): void {
  lang = next;
  document.documentElement.lang = next;
}

export function currentLang(): Lang {
  return lang;
}

/** The language the browser prefers among ours, or `?lang=` when given. */
export function preferredLang(search: string, languages: readonly string[]): Lang {
  const asked = new URLSearchParams(search).get('lang');
  if (asked === 'en' || asked === 'ko') return asked;
  return languages.some((l) => l.toLowerCase().startsWith('ko')) ? 'ko' : 'en';
}

function fill(text: string, vars: Record<string, string | number>): string {
  return text.replace(/\{(\w+)\}/g, (m, name: string) => (name in vars ? String(vars[name]) : m));
}

export function t(key: StringKey, vars: Record<string, string | number> = {}): string {
  return fill(tables[lang].words[key], vars);
}

/** The sentence for a reply code; an unknown code (a newer agent) is shown with the agent's message. */
export function replyText(code: string, message: string): string {
  const sentence = (tables[lang].replies as Record<string, string>)[code];
  return sentence === undefined ? message : fill(sentence, { detail: message });
}
