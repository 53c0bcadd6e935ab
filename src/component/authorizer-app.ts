import type { AppConfig, ComponentConfig } from '../config/config.js';

/**
 * An authorizer as an app: classic semantics (every api_authorizer_token call mints a token
 * and the previous one lives out its overlap), no AppSecret (the component fetches for it),
 * and the tickets its platform asks for.
 */
export function authorizerApp(component: ComponentConfig, authorizerAppId: string): AppConfig {
  return {
    appId: authorizerAppId,
    mode: 'classic',
    secretSource: `component ${component.componentAppId}`,
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
