// Swagger UI's start-up, in a file of its own (the Content-Security-Policy forbids inline
// scripts). The document is the service's own /openapi.json; nothing else is fetched.
window.ui = window.SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  presets: [window.SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
  validatorUrl: null,
  tryItOutEnabled: false,
  persistAuthorization: false,
});
