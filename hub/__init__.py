"""The interagency data-sharing hub for medical-insurance fund supervision.

A message travels: connector (``connectors.client``) → envelope (``hub.envelope``) →
router (``hub.router`` run by the Faust agent in ``hub.app``) → the recipient's inbox topic
(``hub.topics``) → the recipient's connector.
"""

__version__ = "0.1.0"
