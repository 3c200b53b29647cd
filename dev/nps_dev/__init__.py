"""The workbench beside the product: fake 1C / Bitrix24 / SendGrid, the data generator, the demo, the project's own
Postgres, the `.nps/env` writer and the local Superset. Never shipped in the product's images; the product package
(`nps`) never imports it."""
