import type { AppConfig, ComponentConfig } from '../config/config.js';

/**
 * One string per platform (platforms come from the config, so this stays small): built per
 * authorizer, `component <id>` was a concatenated string each, 100,000 heap objects to mark.
 */
const SECRET_SOURCES = new Map<string, string>();

function secretSourceOf(componentAppId: string): string {
  let source = SECRET_SOURCES.get(componentAppId);
  if (source === undefined) {
    source = `component ${componentAppId}`;
    SECRET_SOURCES.set(componentAppId, source);
  }
  return source;
}

/**
 * An authorizer as an app: classic semantics (every api_authorizer_token call mints a token
 * and the previous one lives out its overlap), no AppSecret (the component fetches for it),
 * and the tickets its platform asks for.
 */
export function authorizerApp(component: ComponentConfig, authorizerAppId: string): AppConfig {
  return {
    appId: authorizerAppId,
    mode: 'classic',
    secretSource: secretSourceOf(component.componentAppId),
    component: component.componentAppId,
    tickets: component.authorizerTickets,
  };
}

/** The component itself, as the app its component_access_token engine refreshes. */
export function componentApp(component: ComponentConfig): AppConfig {
  return {
    appId: component.componentAppId,
    mode: 'classic',
    secret: component.secret,
    secretSource: component.secretSource,
    tickets: [],
  };
}
