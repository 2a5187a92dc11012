// Headless Debian Chromium as every browser script here starts it (playwright-core; never a
// downloaded browser). WebRTC between headless pages on loopback needs loopback candidates
// allowed (and camera/microphone granted to the page's origin, which callers do per context:
// shared/BROWSER-TESTING.md); the other switches keep background pages and timers running at
// full speed and the browser from reaching the network by itself.
import { chromium } from "playwright-core";

const ARGS = [
  "--allow-loopback-in-peer-connection",
  "--autoplay-policy=no-user-gesture-required",
  "--disable-background-timer-throttling",
  "--disable-renderer-backgrounding",
  "--disable-backgrounding-occluded-windows",
  "--disable-gpu",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** Launches Chromium from `executablePath` with the switches above and `extraArgs`. */
export function launchChromium(executablePath, extraArgs = []) {
  return chromium.launch({ executablePath, headless: true, args: [...ARGS, ...extraArgs] });
}
