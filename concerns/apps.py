from django.apps import AppConfig


class ConcernsConfig(AppConfig):
    name = "concerns"
    verbose_name = "Concerns"

    def ready(self):
        from django.db.models.signals import post_delete, post_save

        from concerns.models import Tag
        from concerns.selectors import tags_forget

        # The cached tag list (selectors.tags_all) goes whenever a tag changes.
        post_save.connect(tags_forget, sender=Tag, dispatch_uid="concerns-tags-forget-save")
        post_delete.connect(tags_forget, sender=Tag, dispatch_uid="concerns-tags-forget-delete")
