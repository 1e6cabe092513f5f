"""The REST API (shared.api.app).

Every pydantic model imported after this package builds its validator on first use rather than at import
(`defer_build`): the API function imports every route's models and the domain's, but a container
serving wallet reads never validates a campaign, so the API's cold start does not pay for all of them.
"""

from pydantic import BaseModel

BaseModel.model_config["defer_build"] = True
