// Runs in the browser (a blank page of the same Chromium) after adaptivecards.min.js:
// window.validateAdaptiveCard(json) -> {errors: [...], warnings: [...], html: bool}.
//
// Errors (a card that Teams may drop or render wrongly):
// - every parse event of the adaptivecards SDK except Hint / Deprecated, with the
//   target version 1.5 (Teams' ceiling): unknown element or action type, invalid
//   property value, a property newer than 1.5, missing card type, ...
// - every property that the SDK's schema of that element does not know (the SDK
//   itself ignores those silently), except the Teams extensions listed in ALLOWED
// - a card version other than 1.0-1.5
// - failures of card.validateProperties() (duplicate ids, empty collections, ...)
// - a card that does not render
(function () {
  "use strict";
  const AC = window.AdaptiveCards;
  const WARNING_EVENTS = new Set(["Hint", "Deprecated"]);
  // Teams extensions and JSON metadata, per type name ("*" = any object).
  const ALLOWED = {
    AdaptiveCard: new Set(["$schema", "msteams", "type"]),
    "*": new Set(["type"]),
  };
  // Collections that the SDK parses in code, outside its property schema.
  const COLLECTIONS = {
    AdaptiveCard: ["body", "actions"],
    Container: ["items"],
    Column: ["items"],
    ColumnSet: ["columns"],
    ActionSet: ["actions"],
    Table: ["columns", "rows"],
    TableRow: ["cells"],
    TableCell: ["items"],
    RichTextBlock: ["inlines"],
    ImageSet: ["images"],
    FactSet: ["facts"],
    "Input.ChoiceSet": ["choices"],
    "Action.ShowCard": ["card"],
  };
  // Free-form values: not walked.
  const FREE_FORM = new Set(["data", "requires", "msteams", "$data", "associatedInputs"]);

  function propertyNames(instance) {
    const schema = instance.getSchema();
    const names = new Set();
    for (let i = 0; i < schema.getCount(); i++) names.add(schema.getItemAt(i).name);
    return names;
  }

  function classFor(json, parentType, key) {
    if (json && typeof json.type === "string") {
      if (json.type === "AdaptiveCard") return AC.AdaptiveCard;
      const element = AC.GlobalRegistry.elements.findByName(json.type);
      if (element) return element.objectType;
      const action = AC.GlobalRegistry.actions.findByName(json.type);
      if (action) return action.objectType;
      if (json.type === "TextRun") return AC.TextRun;
      if (json.type === "Column") return AC.Column;
      if (json.type === "TableRow") return AC.TableRow;
      if (json.type === "TableCell") return AC.TableCell;
      return null; // unknown type: reported by the parser
    }
    if (key === "columns") return parentType === "Table" ? AC.TableColumnDefinition : AC.Column;
    if (key === "facts") return AC.Fact;
    if (key === "choices") return AC.Choice;
    if (key === "inlines") return AC.TextRun;
    if (key === "backgroundImage") return AC.BackgroundImage;
    if (key === "refresh") return AC.RefreshDefinition;
    if (key === "authentication") return AC.Authentication;
    if (key === "tokenExchangeResource") return AC.TokenExchangeResource;
    if (key === "buttons") return AC.AuthCardButton;
    if (key === "rows") return AC.TableRow;
    if (key === "cells") return AC.TableCell;
    if (key === "card") return AC.AdaptiveCard; // Action.ShowCard: walked like a card
    if (key === "fallback") return null;
    return undefined; // a plain object of a known property: not walked
  }

  function walk(json, cls, path, errors, label) {
    if (!json || typeof json !== "object" || Array.isArray(json) || !cls) return;
    const typeName = typeof json.type === "string" ? json.type : label || "AdaptiveCard";
    const known = propertyNames(new cls());
    const allowed = new Set([...(ALLOWED[typeName] || []), ...(COLLECTIONS[typeName] || [])]);
    for (const key of Object.keys(json)) {
      if (!known.has(key) && !allowed.has(key) && !ALLOWED["*"].has(key)) {
        errors.push(`UnknownProperty: ${path} (${typeName}) has unknown property "${key}"`);
      }
    }
    for (const [key, value] of Object.entries(json)) {
      if (FREE_FORM.has(key)) continue;
      const items = Array.isArray(value) ? value : [value];
      items.forEach((item, index) => {
        if (!item || typeof item !== "object" || Array.isArray(item)) return;
        const child = classFor(item, typeName, key);
        if (child) {
          const where = Array.isArray(value) ? `${path}.${key}[${index}]` : `${path}.${key}`;
          walk(item, child, where, errors, `${typeName}.${key}`);
        }
      });
    }
  }

  window.validateAdaptiveCard = function validateAdaptiveCard(json) {
    const errors = [];
    const warnings = [];
    const context = new AC.SerializationContext(new AC.Version(1, 5));
    const card = new AC.AdaptiveCard();
    try {
      card.parse(json, context);
    } catch (error) {
      return { errors: [`parse threw: ${error}`], warnings, html: false };
    }
    for (let i = 0; i < context.eventCount; i++) {
      const event = context.getEventAt(i);
      const name = AC.ValidationEvent[event.event];
      (WARNING_EVENTS.has(name) ? warnings : errors).push(`${name}: ${event.message}`);
    }
    walk(json, AC.AdaptiveCard, "card", errors);
    const version = /^(\d+)\.(\d+)$/.exec(String(json.version || ""));
    if (!version) errors.push(`MissingCardVersion: "version" must be "1.x" (got ${JSON.stringify(json.version)})`);
    else if (Number(version[1]) > 1 || Number(version[2]) > 5) {
      errors.push(`UnsupportedCardVersion: ${json.version} is newer than 1.5, the highest Teams renders`);
    }
    const results = card.validateProperties();
    for (const event of results.validationEvents) {
      const name = AC.ValidationEvent[event.event];
      (WARNING_EVENTS.has(name) ? warnings : errors).push(`${name}: ${event.message}`);
    }
    let html = false;
    try {
      const element = card.render();
      html = !!element;
      if (element) document.body.appendChild(element);
      else errors.push("render returned nothing");
    } catch (error) {
      errors.push(`render threw: ${error}`);
    }
    return { errors, warnings, html };
  };
})();
