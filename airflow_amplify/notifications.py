"""Notifiers for users' DAGs: the amazon provider's SNS notifier, optional when no topic is configured."""

from __future__ import annotations

from airflow.providers.amazon.aws.notifications.sns import SnsNotifier


class OptionalSnsNotifier(SnsNotifier):
    """The amazon provider's SNS notifier, publishing only when its (templated) topic is configured.

    Takes the arguments of :class:`~airflow.providers.amazon.aws.notifications.sns.SnsNotifier`; an
    empty ``target_arn`` (for example an unset Variable) logs and publishes nothing.
    """

    def notify(self, context):
        if not self.target_arn:
            self.log.info("No SNS topic configured (target_arn is empty): not notifying")
            return
        super().notify(context)

    async def async_notify(self, context):
        if not self.target_arn:
            return
        await super().async_notify(context)
