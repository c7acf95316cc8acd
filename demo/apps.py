from django.apps import AppConfig


class DemoConfig(AppConfig):
    name = "demo"
    verbose_name = "Demo data"

    def ready(self) -> None:
        from audit import batch_stories, claim_stories
        from demo import data

        claim_stories.register(data.story)
        batch_stories.register(data.batch_story)
