#!/usr/bin/env node
// Drives Microsoft 365 Agents Playground pages in Debian's Chromium (playwright-core),
// as people would, and validates every Adaptive Card the bot sends with the
// `adaptivecards` npm package in the same browser.
//
//   node tests/e2e/driver.cjs PLAN.json      -> prints a JSON report on stdout
//
// PLAN = {
//   "chromium": "/usr/bin/chromium",
//   "screenshots": "/abs/dir",
//   "clients": {"manager": "http://127.0.0.1:PORT/", ...},  // one Playground per person
//   "steps": [
//     {"as": "manager", "do": "open"},                        // load the page, hide the log panel
//     {"as": "manager", "do": "send", "text": "apua"},        // type in the compose box + Enter
//     {"as": "manager", "do": "waitCard", "text": ["Ohje", "How to use the bot"]},
//     {"as": "manager", "do": "click", "button": "Vaihda kieli"},   // a button of the last card
//     {"as": "manager", "do": "click", "button": "Näytä hakemus", "prefix": true},  // starts with
//     {"as": "manager", "do": "fill", "label": "Sukunimi", "value": "Esimerkki"},
//     {"as": "manager", "do": "check", "label": "Nuoret"},   // checkbox (role "radio" too)
//     {"as": "manager", "do": "select", "label": "Kunta", "option": "Laukaa"},
//     {"as": "manager", "do": "dump", "name": "page"},        // -> screenshots/page.html
//     {"as": "manager", "do": "waitText", "text": "..."},
//     {"do": "exec", "argv": ["python", "x.py"], "env": {...}},  // outside the browser
//     {"as": "manager", "do": "screenshot", "name": "01-help"}      // -> screenshots/01-help.png
//     {"as": "reader", "do": "visit", "url": "http://.../privacy?lang=sv"}  // any web page:
//         detail = {status, title, lang (of <html>), requests (every URL the page loaded)}
//     {"as": "reader", "do": "follow", "link": "svenska"}  // click a link by its text, as visit
//     {"as": "reader", "do": "screenshot", "name": "x", "fullPage": true}  // the whole page
//     {"as": "approver", "do": "screenshot", "name": "x", "centre": "text"}  // that text in the middle
//   ],
//   "validate": [card, ...],         // optional: cards to check without a Playground
//   "viewport": {"width": 1280, "height": 900}   // optional (this is the default)
// }
// REPORT = {"ok", "error", "steps": [{"index", "do", "as", "ms", "detail"}],
//           "cards": [{"as", "conversation", "action", "title", "errors", "warnings"}]}
// Exit code 0 = every step done and every card valid; 1 = otherwise; 2 = bad plan.
"use strict";
const fs = require("fs");
const path = require("path");
const { execFileSync } = require("child_process");
const { chromium } = require("playwright-core");

const ROOT = path.resolve(__dirname, "..", "..");
const ADAPTIVECARDS = require.resolve("adaptivecards/dist/adaptivecards.min.js", { paths: [ROOT] });
const VALIDATOR = path.join(__dirname, "card_validator.js");
const CARD_TYPE = "application/vnd.microsoft.card.adaptive";
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
const DEFAULT_TIMEOUT = 20000;

function asList(value) {
  return Array.isArray(value) ? value : [value];
}

function escapeRegExp(text) {
  return String(text).replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

function cardTitle(card) {
  const first = (card.body || []).find((item) => item && item.type === "TextBlock");
  return first ? String(first.text) : "";
}

async function main() {
  const plan = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
  const report = { ok: false, error: null, steps: [], cards: [] };
  fs.mkdirSync(plan.screenshots, { recursive: true });
  const browser = await chromium.launch({
    executablePath: plan.chromium || "/usr/bin/chromium",
    headless: true,
    // playwright-core starts Chromium with a new, empty profile of its own.
    args: CHROMIUM_ARGS,
  });
  const pending = [];
  const pages = {};
  try {
    const validatorContext = await browser.newContext();
    const validator = await validatorContext.newPage();
    await validator.setContent("<!doctype html><html><body></body></html>");
    await validator.addScriptTag({ path: ADAPTIVECARDS });
    await validator.addScriptTag({ path: VALIDATOR });

    const validate = (who, frame) => {
      let data;
      try {
        data = JSON.parse(String(frame));
      } catch {
        return;
      }
      if (!data || !data.message || !Array.isArray(data.message.attachments)) return;
      for (const attachment of data.message.attachments) {
        if (attachment.contentType !== CARD_TYPE) continue;
        const card = attachment.content;
        const entry = {
          as: who,
          conversation: data.actionConversationId,
          action: data.action,
          title: cardTitle(card),
          errors: [],
          warnings: [],
          card,
        };
        report.cards.push(entry);
        pending.push(
          validator
            .evaluate((json) => window.validateAdaptiveCard(json), card)
            .then((result) => {
              entry.errors = result.errors;
              entry.warnings = result.warnings;
            })
            .catch((error) => entry.errors.push(`validator failed: ${error}`)),
        );
      }
    };

    // "validate": [card, ...] checks cards given in the plan (the validator's own tests).
    for (const [index, card] of (plan.validate || []).entries()) {
      validate("plan", JSON.stringify({
        action: "validate",
        actionConversationId: `plan-${index}`,
        message: { attachments: [{ contentType: CARD_TYPE, content: card }] },
      }));
    }

    for (const [who, url] of Object.entries(plan.clients || {})) {
      // One context per person: own storage, as separate Teams clients would be.
      const context = await browser.newContext({
        viewport: plan.viewport || { width: 1280, height: 900 },
        locale: "fi-FI",
        timezoneId: "Europe/Helsinki",
      });
      const page = await context.newPage();
      page.setDefaultTimeout(plan.timeout || DEFAULT_TIMEOUT);
      page.on("websocket", (socket) => {
        if (!socket.url().includes("_ws_conversation")) return;
        socket.on("framereceived", (frame) => validate(who, frame.payload));
      });
      pages[who] = { page, url, lastCardCount: 0 };
    }

    for (const [index, step] of (plan.steps || []).entries()) {
      const started = Date.now();
      if (step.do === "exec") {
        // Something done outside the browser between two clicks (e.g. an administrator's
        // command line): {"do": "exec", "argv": [...], "env": {...}} -> detail = stdout.
        const record = { index, do: step.do, as: step.as || null, ms: 0, detail: null };
        report.steps.push(record);
        record.detail = execFileSync(step.argv[0], step.argv.slice(1), {
          cwd: ROOT,
          env: { ...process.env, ...(step.env || {}) },
          encoding: "utf8",
          timeout: step.timeoutMs || 60000,
        }).trim();
        record.ms = Date.now() - started;
        continue;
      }
      const client = pages[step.as];
      if (!client) throw new Error(`step ${index}: no client "${step.as}"`);
      const { page } = client;
      const record = { index, do: step.do, as: step.as, ms: 0, detail: null };
      report.steps.push(record);
      switch (step.do) {
        case "open": {
          await page.goto(client.url, { waitUntil: "domcontentloaded" });
          await page.getByRole("textbox").first().waitFor();
          const toggle = page.getByTitle("Toggle Log Panel");
          if (step.logPanel !== true && (await page.getByText("Log Panel").count())) {
            await toggle.click();
          }
          break;
        }
        case "send": {
          const box = page.getByRole("textbox").first();
          await box.click();
          await box.fill(step.text);
          await page.keyboard.press("Enter");
          break;
        }
        case "waitCard": {
          const texts = asList(step.text);
          const selector = texts.map((t) => `.ac-textBlock:has-text(${JSON.stringify(t)})`).join(", ");
          const block = page.locator(selector).last();
          // A card updated in place (updateActivity) is rendered anew: retry on a detached node.
          for (let attempt = 0; ; attempt++) {
            try {
              await block.waitFor({ state: "visible" });
              await block.scrollIntoViewIfNeeded({ timeout: 5000 });
              record.detail = (await block.innerText({ timeout: 5000 })).trim();
              break;
            } catch (error) {
              if (attempt >= 3) throw error;
              await page.waitForTimeout(300);
            }
          }
          break;
        }
        case "waitText": {
          const texts = asList(step.text);
          const locator = page.getByText(new RegExp(texts.map(escapeRegExp).join("|"))).last();
          await locator.waitFor({ state: "visible" });
          record.detail = (await locator.innerText()).trim();
          break;
        }
        case "click": {
          // A button of a card (the Fluent renderer: <button><div class="ac-pushButton-content">),
          // by its whole title; the last one = the newest card.
          // "prefix": true matches a title that starts with the text ("Show request 2026-…").
          const title = step.prefix
            ? new RegExp(`^\\s*${escapeRegExp(step.button)}`)
            : new RegExp(`^\\s*${escapeRegExp(step.button)}\\s*$`);
          const button = page
            .locator("button")
            .filter({ has: page.locator('[class*="ac-pushButton"]') })
            .filter({ hasText: title })
            .last();
          await button.click();
          break;
        }
        case "fill": {
          const field = page.getByLabel(step.label, { exact: false }).last();
          await field.fill(String(step.value));
          break;
        }
        case "check": {
          // A checkbox or radio button (Input.Toggle, expanded Input.ChoiceSet): click its
          // text, as a person does; then it must be checked.
          const label = page.locator("label", { hasText: step.label }).last();
          await label.click();
          const id = await label.getAttribute("for");
          if (id && !(await page.locator(`[id="${id}"]`).isChecked())) {
            throw new Error(`step ${index}: "${step.label}" did not get checked`);
          }
          break;
        }
        case "select": {
          // A compact Input.ChoiceSet (a <select>) by its label.
          const field = page.getByLabel(step.label, { exact: false }).last();
          await field.selectOption({ label: step.option });
          break;
        }
        case "visit":
        case "follow": {
          // A plain web page (the bot's /privacy): what loaded, and in which language.
          const requests = [];
          const listener = (request) => requests.push(request.url());
          page.on("request", listener);
          let response;
          if (step.do === "visit") {
            response = await page.goto(step.url || client.url, { waitUntil: "load" });
          } else {
            const link = page.getByRole("link", { name: step.link, exact: true }).first();
            [response] = await Promise.all([page.waitForNavigation({ waitUntil: "load" }), link.click()]);
          }
          page.off("request", listener);
          record.detail = {
            status: response ? response.status() : null,
            url: page.url(),
            title: await page.title(),
            lang: await page.evaluate(() => document.documentElement.lang),
            requests,
          };
          break;
        }
        case "dump": {
          const file = path.join(plan.screenshots, `${step.name}.html`);
          fs.writeFileSync(file, await page.content());
          record.detail = file;
          break;
        }
        case "screenshot": {
          await page.waitForTimeout(step.settleMs || 300);
          const file = path.join(plan.screenshots, `${step.name}.png`);
          if (step.centre) {
            // The newest place that shows this text in the middle of the chat first.
            const target = page.getByText(step.centre, { exact: false }).last();
            await target.evaluate((node) => node.scrollIntoView({ block: "center" }));
            await page.waitForTimeout(300);
          }
          await page.screenshot({ path: file, fullPage: step.fullPage === true });
          record.detail = file;
          break;
        }
        case "wait": {
          await page.waitForTimeout(step.ms || 500);
          break;
        }
        default:
          throw new Error(`step ${index}: unknown action "${step.do}"`);
      }
      record.ms = Date.now() - started;
    }
    // Cards still on the wire after the last step.
    await new Promise((resolve) => setTimeout(resolve, plan.settleMs || 500));
    await Promise.all(pending);
    const invalid = report.cards.filter((card) => card.errors.length);
    report.ok = invalid.length === 0;
    if (!report.ok) report.error = `${invalid.length} invalid card(s)`;
  } catch (error) {
    // What each person saw when the step failed: screenshots/failed-WHO.png and .html.
    for (const [who, client] of Object.entries(pages)) {
      const base = path.join(plan.screenshots, `failed-${who}`);
      await client.page.screenshot({ path: `${base}.png` }).catch(() => {});
      await client.page.content().then((html) => fs.writeFileSync(`${base}.html`, html)).catch(() => {});
    }
    await Promise.allSettled(pending);
    report.error = String(error && error.stack ? error.stack : error);
    report.ok = false;
  } finally {
    await browser.close().catch(() => {});
  }
  process.stdout.write(JSON.stringify(report) + "\n");
  process.exit(report.ok ? 0 : 1);
}

main().catch((error) => {
  process.stderr.write(`${error.stack || error}\n`);
  process.exit(2);
});
